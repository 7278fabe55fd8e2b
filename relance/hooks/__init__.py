"""Webhooks out: an organisation's subscribed URLs receive its events, signed as the
Standard Webhooks specification says, retried with back-off, logged and replayable
(docs/webhooks.md). Not to be confused with relance.dunning.webhooks, the providers'
webhooks coming in."""
