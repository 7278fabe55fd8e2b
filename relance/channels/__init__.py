"""Channels: turning planned communications into messages and tasks (the outbox), the
message templates, e-mail, bounces and the sending workers."""
