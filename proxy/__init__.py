"""Gatehouse's reverse proxy: an asyncio HTTP/1.1 keep-alive proxy with session checks."""

from proxy import compiled

compiled.use(__path__, __name__)
