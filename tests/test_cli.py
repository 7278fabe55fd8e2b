import subprocess
import sys


def test_it_migrates_a_fresh_database_on_first_use(tmp_path):
    env = {"RELANCE_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin", "DATABASE_URL": ""}
    out = subprocess.run(
        [sys.executable, "-m", "relance", "createorg", "fresh", "--name", "Fresh SAS"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert (tmp_path / "relance.sqlite3").exists()
    assert "fresh" in out.stdout
