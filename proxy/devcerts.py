"""`make certs`: a local CA and a certificate for localhost, for trying HTTPS on one machine.

Made with trustme (a development dependency, imported only here): never use these in
production, where the certificate comes from a real CA (e.g. Let's Encrypt).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

NAMES = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class Files:
    ca: Path  # the CA certificate to trust (curl --cacert)
    cert: Path  # PROXY_TLS_CERT: the server certificate with its chain
    key: Path  # PROXY_TLS_KEY


def write(directory: Path) -> Files:
    import trustme

    directory.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA(organization_name="Gatehouse local CA")
    server = ca.issue_cert(*NAMES)
    files = Files(ca=directory / "ca.pem", cert=directory / "cert.pem", key=directory / "key.pem")
    ca.cert_pem.write_to_path(str(files.ca))
    server.private_key_pem.write_to_path(str(files.key))
    files.key.chmod(0o600)
    with files.cert.open("wb") as chain:
        for blob in server.cert_chain_pems:
            chain.write(blob.bytes())
    return files


def main(argv: list[str]) -> int:
    directory = Path(argv[1] if len(argv) > 1 else "var/tls")
    existing = Files(directory / "ca.pem", directory / "cert.pem", directory / "key.pem")
    if all(path.exists() for path in (existing.ca, existing.cert, existing.key)):
        # A new CA would undo whatever trust was given to this one.
        files, done = existing, f"Kept the CA and certificate already in {directory}/"
    else:
        files, done = write(directory), "Wrote a local CA and a certificate"
    print(
        f"""{done} for {", ".join(NAMES)}
(delete {directory}/ to make new ones):
  {files.ca}  (the CA: trust it)
  {files.cert}  {files.key}

Run the proxy with HTTPS (here on 10443, with http://…:10080 redirecting to it):
  PROXY_PORT=10443 PROXY_TLS_CERT={files.cert} PROXY_TLS_KEY={files.key} \\
  PROXY_HTTP_REDIRECT_PORT=10080 make run

Trust the CA per command:  curl --cacert {files.ca} https://localhost:10443/
or for the whole machine (Debian):
  cp {files.ca} /usr/local/share/ca-certificates/gatehouse-local.crt && update-ca-certificates
Browsers keep their own store (Chromium: Settings > Privacy and security > Security >
Manage certificates > Authorities > Import)."""
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
