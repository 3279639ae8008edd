"""The listener's SSLContext, driven through real handshakes in memory (no sockets)."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from proxy import devcerts
from proxy.config import ConfigError, Settings
from proxy.tls import server_context


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> devcerts.Files:
    return devcerts.write(tmp_path_factory.mktemp("tls"))


def settings(files: devcerts.Files) -> Settings:
    return Settings(tls_cert=str(files.cert), tls_key=str(files.key))


def handshake(server: ssl.SSLContext, client: ssl.SSLContext) -> ssl.SSLObject:
    """Run a TLS handshake between two in-memory ends; return the client's end."""
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    c = client.wrap_bio(c_in, c_out, server_hostname="localhost")
    s = server.wrap_bio(s_in, s_out, server_side=True)
    for _ in range(10):
        done = 0
        for end in (c, s):
            try:
                end.do_handshake()
                done += 1
            except ssl.SSLWantReadError:
                pass
        s_in.write(c_out.read())
        c_in.write(s_out.read())
        if done == 2:
            return c
    raise AssertionError("the handshake did not finish")


def client_context(files: devcerts.Files, **options: object) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(files.ca))
    for name, value in options.items():
        setattr(context, name, value)
    return context


def test_handshake_names_http11_and_a_modern_version(certs):
    client = client_context(certs)
    client.set_alpn_protocols(["h2", "http/1.1"])
    end = handshake(server_context(settings(certs)), client)
    assert end.selected_alpn_protocol() == "http/1.1"
    assert end.version() in ("TLSv1.2", "TLSv1.3")


def test_tls12_gets_forward_secret_aead_suites_only(certs):
    client = client_context(certs, maximum_version=ssl.TLSVersion.TLSv1_2)
    end = handshake(server_context(settings(certs)), client)
    name, version, _ = end.cipher()
    assert (
        version == "TLSv1.2" and name.startswith("ECDHE-") and ("GCM" in name or "CHACHA" in name)
    )


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated")
def test_tls11_is_refused(certs):
    client = client_context(certs)
    client.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    client.maximum_version = ssl.TLSVersion.TLSv1_1
    with pytest.raises(ssl.SSLError):
        handshake(server_context(settings(certs)), client)


@pytest.mark.parametrize("which", ["cert", "key"])
def test_unusable_files_are_a_config_error(certs, tmp_path: Path, which):
    broken = tmp_path / "broken.pem"
    broken.write_text("not a pem file\n")
    files = {"cert": str(certs.cert), "key": str(certs.key), which: str(broken)}
    with pytest.raises(ConfigError, match=r"setting PROXY_TLS_CERT: .*got '"):
        server_context(Settings(tls_cert=files["cert"], tls_key=files["key"]))


def test_missing_file_is_a_config_error(tmp_path: Path):
    with pytest.raises(ConfigError, match="No such file"):
        server_context(Settings(tls_cert=str(tmp_path / "nope.pem"), tls_key="nope.pem"))


def test_make_certs_keeps_a_ca_that_may_already_be_trusted(tmp_path: Path, capsys):
    assert devcerts.main(["devcerts", str(tmp_path)]) == 0
    first = (tmp_path / "ca.pem").read_bytes()
    assert devcerts.main(["devcerts", str(tmp_path)]) == 0
    assert (tmp_path / "ca.pem").read_bytes() == first
    out = capsys.readouterr().out
    assert f"curl --cacert {tmp_path}/ca.pem" in out and "PROXY_TLS_CERT=" in out
