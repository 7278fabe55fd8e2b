"""Words the demo data is made of: French company names, people, streets and towns.

Real town names with their real postcodes and telephone zone (the first digit after the
0 of a French landline number), so that an address reads right to a French reader.
"""

from __future__ import annotations

from dataclasses import dataclass

SURNAMES = (
    "Martin", "Bernard", "Thomas", "Petit", "Robert", "Richard", "Durand", "Dubois",
    "Moreau", "Laurent", "Simon", "Michel", "Lefebvre", "Leroy", "Roux", "David",
    "Bertrand", "Morel", "Fournier", "Girard", "Bonnet", "Dupont", "Lambert", "Fontaine",
    "Rousseau", "Vincent", "Muller", "Lefèvre", "Faure", "André", "Mercier", "Blanc",
    "Guérin", "Boyer", "Garnier", "Chevalier", "François", "Legrand", "Gauthier", "Perrin",
    "Robin", "Clément", "Morin", "Henry", "Roussel", "Mathieu", "Masson", "Marchand",
    "Duval", "Denis", "Dumont", "Lemaire", "Noël", "Meyer", "Dufour", "Meunier", "Brun",
    "Blanchard", "Giraud", "Joly", "Rivière", "Lucas", "Brunet", "Gaillard", "Barbier",
    "Arnaud", "Gérard", "Roche", "Renard", "Schmitt", "Leroux", "Colin", "Vidal", "Caron",
    "Picard", "Fabre", "Aubert", "Lemoine", "Renaud", "Dumas", "Lacroix", "Olivier",
    "Bourgeois", "Benoît", "Rey", "Leclerc", "Rolland", "Guillaume", "Lecomte", "Dupuy",
    "Guillot", "Hubert", "Berger", "Carpentier", "Dupuis", "Moulin", "Deschamps", "Huet",
    "Vasseur", "Boucher", "Fleury", "Royer", "Klein", "Jacquet", "Poirier", "Marty",
    "Aubry", "Guyot", "Carré", "Renault", "Charpentier", "Ménard", "Maillard", "Baron",
    "Bertin", "Bailly", "Hervé", "Schneider", "Le Gall", "Collet", "Léger", "Bouvier",
    "Prévost", "Millet", "Perrot", "Cousin", "Germain", "Breton", "Besson", "Langlois",
    "Le Goff", "Pelletier", "Lévêque", "Perrier", "Leblanc", "Barré", "Lebrun", "Marchal",
    "Weber", "Mallet", "Hamon", "Boulanger", "Monnier", "Michaud", "Guichard", "Gillet",
    "Tessier", "Chauvin", "Bouchet", "Humbert", "Reynaud", "Perret", "Cordier", "Pichon",
    "Lejeune", "Delaunay", "Pasquier", "Carlier", "Laporte", "Le Bihan",
)  # fmt: skip

FIRST_NAMES = (
    "Jean", "Marie", "Nathalie", "Isabelle", "Sylvie", "Catherine", "Philippe", "Pierre",
    "Michel", "Christophe", "Stéphane", "Sandrine", "Valérie", "Céline", "Julien",
    "Nicolas", "Sébastien", "Laurent", "Frédéric", "Olivier", "Thomas", "Camille",
    "Émilie", "Aurélie", "Julie", "Sophie", "Caroline", "Claire", "Anne", "Hélène", "Éric",
    "David", "Vincent", "Alexandre", "Mathieu", "Guillaume", "Florence", "Karine",
    "Véronique", "Patricia", "Laetitia", "Virginie", "Cédric", "Arnaud", "Benoît",
    "Damien", "Jérôme", "Franck", "Fabrice", "Pascal", "Hugo", "Léa", "Manon", "Chloé",
    "Inès", "Sarah", "Romain", "Maxime", "Antoine", "Mélanie", "Audrey", "Élodie",
)  # fmt: skip

ENGLISH_FIRST_NAMES = (
    "James", "Emma", "Oliver", "Sophie", "Daniel", "Hannah", "Thomas", "Laura", "Michael",
    "Sarah", "Peter", "Anna", "Markus", "Julia", "Stefan", "Katrin", "Lukas", "Claudia",
)  # fmt: skip

ENGLISH_SURNAMES = (
    "Walker", "Thompson", "Hughes", "Clarke", "Bennett", "Murphy", "Wright", "Fischer",
    "Wagner", "Becker", "Hoffmann", "Schulz", "Koch",
)  # fmt: skip

# Surnames that name foreign customers' firms, by country.
FOREIGN_SURNAMES = {
    "DE": ("Fischer", "Wagner", "Becker", "Hoffmann", "Schulz", "Koch", "Zimmermann"),
    "BE": ("Janssens", "Peeters", "Maes", "Dubois", "Lambert", "Dupont", "Renard"),
    "LU": ("Weber", "Schmit", "Muller", "Hoffmann", "Wagner", "Reuter", "Thill"),
}

# "{place}" completes a name the way French firms name themselves after their region.
PLACES = (
    "de l'Ouest", "du Centre", "de Provence", "d'Armor", "du Val de Loire", "des Alpes",
    "de Normandie", "du Sud-Ouest", "de Bourgogne", "d'Alsace", "du Nord", "de la Vallée",
    "du Littoral", "de l'Atlantique", "du Vercors", "de Touraine", "du Jura", "de Savoie",
    "du Lyonnais", "de Picardie", "des Landes", "du Limousin", "de Champagne", "d'Anjou",
)  # fmt: skip


@dataclass(frozen=True)
class Sector:
    key: str
    weight: int
    # Typical size of this sector's invoices relative to the others.
    scale: float
    templates: tuple[str, ...]


SECTORS = (
    Sector("btp", 22, 1.6, (
        "{surname} Construction", "Bâtiment {surname}", "Maçonnerie {surname} et Fils",
        "Charpentes {place}", "Couverture {surname}", "Travaux Publics {place}",
        "Menuiseries {surname}", "Plâtrerie {surname}", "Génie Civil {place}",
        "Terrassements {surname}", "Étanchéité {place}", "Entreprise {surname} Frères",
    )),
    Sector("transport", 16, 0.9, (
        "Transports {surname}", "{surname} Logistique", "Messageries {place}",
        "Transports Frigorifiques {surname}", "Express {city}", "{surname} Fret",
        "Logistique {place}", "Déménagements {surname}", "Autocars {surname}",
    )),
    Sector("agroalimentaire", 16, 1.3, (
        "Conserverie {place}", "Laiterie {place}", "Salaisons {surname}",
        "Biscuiterie {surname}", "Fromagerie {surname}", "Minoterie {surname}",
        "Charcuterie {surname}", "Boulangerie Industrielle {place}", "Vergers {place}",
        "Coopérative Agricole {place}", "Brasserie {surname}", "Maison {surname} Traiteur",
    )),
    Sector("imprimerie", 10, 0.6, (
        "Imprimerie {surname}", "Imprimerie {place}", "Arts Graphiques {surname}",
        "{surname} Impression", "Cartonnages {surname}", "Étiquettes {place}",
        "Reprographie {city}", "Façonnage {surname}",
    )),
    Sector("industrie", 14, 1.5, (
        "Chaudronnerie {surname}", "Mécanique de Précision {place}", "Usinage {surname}",
        "Fonderie {place}", "Tôlerie {surname}", "Plasturgie {place}",
        "Découpe Laser {surname}", "Ateliers {surname}", "Traitements de Surface {place}",
    )),
    Sector("negoce", 10, 1.1, (
        "Distribution {place}", "{surname} Négoce", "Comptoir {place}",
        "Fournitures Industrielles {surname}", "Quincaillerie {surname}",
        "Matériaux {place}",
    )),
    Sector("services", 12, 0.5, (
        "Nettoyage {surname} Services", "Électricité {surname}", "Plomberie {surname}",
        "Garage {surname}", "{surname} Informatique", "Sécurité {place}",
        "Espaces Verts {surname}", "Froid et Climatisation {place}",
    )),
)  # fmt: skip

# Legal forms of French companies, weighted as they are met among SME customers.
LEGAL_FORMS = (("SAS", 50), ("SARL", 30), ("SA", 10), ("SASU", 5), ("EURL", 5))


@dataclass(frozen=True)
class Town:
    name: str
    postcode: str
    # French landline zone: 1 Île-de-France, 2 north-west, 3 north-east, 4 south-east,
    # 5 south-west.
    zone: int


TOWNS = (
    Town("Paris", "75011", 1), Town("Paris", "75015", 1), Town("Nanterre", "92000", 1),
    Town("Boulogne-Billancourt", "92100", 1), Town("Montreuil", "93100", 1),
    Town("Saint-Denis", "93200", 1), Town("Créteil", "94000", 1), Town("Rungis", "94150", 1),
    Town("Évry-Courcouronnes", "91000", 1), Town("Cergy", "95000", 1),
    Town("Versailles", "78000", 1), Town("Meaux", "77100", 1),
    Town("Nantes", "44000", 2), Town("Saint-Nazaire", "44600", 2), Town("Rennes", "35000", 2),
    Town("Vitré", "35500", 2), Town("Saint-Malo", "35400", 2), Town("Brest", "29200", 2),
    Town("Quimper", "29000", 2), Town("Landerneau", "29800", 2), Town("Vannes", "56000", 2),
    Town("Lorient", "56100", 2), Town("Saint-Brieuc", "22000", 2),
    Town("Lamballe-Armor", "22400", 2), Town("Caen", "14000", 2), Town("Rouen", "76000", 2),
    Town("Le Havre", "76600", 2), Town("Évreux", "27000", 2),
    Town("Cherbourg-en-Cotentin", "50100", 2), Town("Alençon", "61000", 2),
    Town("Le Mans", "72000", 2), Town("Laval", "53000", 2), Town("Angers", "49000", 2),
    Town("Cholet", "49300", 2), Town("La Roche-sur-Yon", "85000", 2),
    Town("Tours", "37000", 2), Town("Orléans", "45000", 2), Town("Blois", "41000", 2),
    Town("Chartres", "28000", 2), Town("Bourges", "18000", 2), Town("Châteauroux", "36000", 2),
    Town("Lille", "59000", 3), Town("Roubaix", "59100", 3), Town("Valenciennes", "59300", 3),
    Town("Dunkerque", "59140", 3), Town("Arras", "62000", 3), Town("Amiens", "80000", 3),
    Town("Beauvais", "60000", 3), Town("Reims", "51100", 3), Town("Troyes", "10000", 3),
    Town("Metz", "57000", 3), Town("Nancy", "54000", 3), Town("Strasbourg", "67000", 3),
    Town("Mulhouse", "68100", 3), Town("Colmar", "68000", 3), Town("Besançon", "25000", 3),
    Town("Dijon", "21000", 3), Town("Auxerre", "89000", 3), Town("Mâcon", "71000", 3),
    Town("Chalon-sur-Saône", "71100", 3), Town("Nevers", "58000", 3),
    Town("Lyon", "69007", 4), Town("Villeurbanne", "69100", 4), Town("Vénissieux", "69200", 4),
    Town("Saint-Étienne", "42000", 4), Town("Roanne", "42300", 4), Town("Grenoble", "38000", 4),
    Town("Valence", "26000", 4), Town("Chambéry", "73000", 4), Town("Annecy", "74000", 4),
    Town("Clermont-Ferrand", "63000", 4), Town("Marseille", "13008", 4),
    Town("Aix-en-Provence", "13090", 4), Town("Avignon", "84000", 4), Town("Nîmes", "30000", 4),
    Town("Montpellier", "34000", 4), Town("Toulon", "83000", 4), Town("Nice", "06000", 4),
    Town("Perpignan", "66000", 4), Town("Bourg-en-Bresse", "01000", 4),
    Town("Bordeaux", "33000", 5), Town("Mérignac", "33700", 5), Town("Toulouse", "31000", 5),
    Town("Pau", "64000", 5), Town("Bayonne", "64100", 5), Town("Agen", "47000", 5),
    Town("Montauban", "82000", 5), Town("Albi", "81000", 5), Town("Rodez", "12000", 5),
    Town("Limoges", "87000", 5), Town("Poitiers", "86000", 5), Town("Niort", "79000", 5),
    Town("La Rochelle", "17000", 5), Town("Angoulême", "16000", 5),
    Town("Périgueux", "24000", 5), Town("Brive-la-Gaillarde", "19100", 5),
    Town("Mont-de-Marsan", "40000", 5), Town("Tarbes", "65000", 5),
)  # fmt: skip

STREET_NAMES = (
    "de la République", "Jean Jaurès", "Victor Hugo", "du Général de Gaulle", "Pasteur",
    "de l'Industrie", "Gustave Eiffel", "Ampère", "Denis Papin", "du Commerce",
    "de la Gare", "des Artisans", "Marcel Dassault", "Louis Blériot", "Édouard Branly",
    "des Frères Lumière", "Nationale", "du Maréchal Foch", "Jules Ferry", "des Tanneurs",
    "du Moulin", "de la Libération", "Émile Zola", "Paul Langevin", "Blaise Pascal",
)  # fmt: skip

STREET_KINDS = ("rue", "rue", "rue", "avenue", "boulevard", "allée", "chemin", "impasse")

BUSINESS_PARKS = (
    "ZI des Grands Champs", "ZA du Moulin", "Parc d'activités de la Fontaine",
    "ZI Nord", "ZA de la Croix Blanche", "Parc d'activités des Portes de l'Océan",
    "ZI de la Pointe", "ZAC du Champ de Foire", "Zone artisanale des Landes",
    "Parc technologique du Bois Joli",
)  # fmt: skip

# Roles as French companies title them; the first is who receives reminders.
ACCOUNTING_ROLES = (
    "Comptabilité fournisseurs", "Responsable comptable", "Comptable",
    "Service comptabilité",
)  # fmt: skip
MANAGEMENT_ROLES = ("Directeur administratif et financier", "Gérant", "Président", "DAF")
OTHER_ROLES = ("Responsable des achats", "Secrétariat de direction", "Achats")
ENGLISH_ROLES = ("Accounts payable", "Finance director", "Purchasing manager")

ACCOUNTING_MAILBOXES = ("compta", "comptabilite", "factures", "fournisseurs", "facturation")


@dataclass(frozen=True)
class ForeignPlace:
    country: str
    language: str
    town: str
    postcode: str
    # International prefix and a sample of local area codes.
    phone_prefix: str
    area: str


FOREIGN_PLACES = (
    ForeignPlace("BE", "fr", "Liège", "4000", "+32", "4"),
    ForeignPlace("BE", "fr", "Namur", "5000", "+32", "81"),
    ForeignPlace("BE", "fr", "Mons", "7000", "+32", "65"),
    ForeignPlace("BE", "fr", "Bruxelles", "1000", "+32", "2"),
    ForeignPlace("LU", "fr", "Luxembourg", "L-1855", "+352", "26"),
    ForeignPlace("LU", "fr", "Esch-sur-Alzette", "L-4170", "+352", "54"),
    ForeignPlace("DE", "en", "Saarbrücken", "66111", "+49", "681"),
    ForeignPlace("DE", "en", "Karlsruhe", "76133", "+49", "721"),
    ForeignPlace("DE", "en", "Freiburg im Breisgau", "79098", "+49", "761"),
    ForeignPlace("DE", "en", "Köln", "50667", "+49", "221"),
)

FOREIGN_NAME_TEMPLATES = {
    "BE": ("{surname} Construction SRL", "Transports {surname} SA", "{surname} & Fils SRL"),
    "LU": ("{surname} Logistique Sàrl", "Bâtiments {surname} SA", "{surname} Services Sàrl"),
    "DE": ("{surname} Maschinenbau GmbH", "{surname} Logistik GmbH", "{surname} Verpackung AG"),
}

# French subsidiaries of foreign groups, whose accounts payable work in English.
GROUP_NAMES = ("Northbridge", "Harwell", "Ashford", "Kingsley", "Whitfield", "Redwood")
GROUP_ACTIVITIES = ("Logistics", "Packaging", "Engineering", "Foods", "Print Solutions")
