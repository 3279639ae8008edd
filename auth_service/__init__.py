"""Gatehouse auth service: logs users in and answers the proxy's session checks.

The proxy asks `GET /verify` before forwarding a protected request (the nginx
`auth_request` / Traefik ForwardAuth convention); everything else here is the
login/logout flow and the page that shows how long a session has left.
"""
