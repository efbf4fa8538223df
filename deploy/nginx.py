"""Nginx, the platform's one entry point: render `deploy/nginx/nginx.conf.template`, make a dev certificate and
the consoles' htpasswd, and the command that runs Debian's nginx (the process stack's `nginx` entry in
deploy/services.py).

Compose renders the same template with the nginx image's envsubst; here `render` does the same substitution
(`${NGINX_*}` and `${UPSTREAM_*}` only; every other `$name` is nginx's own variable). The stack's values
point the upstreams at local ports; Compose's at container names.

    python -m deploy.nginx dev-cert DIR             # self-signed cert.pem/key.pem for localhost
    python -m deploy.nginx htpasswd FILE --user U   # password from $CONSOLE_PASSWORD or a prompt
    python -m deploy.nginx check                    # `nginx -t` on the Compose and the stack renderings
"""

from __future__ import annotations

import argparse
import getpass
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

from deploy.env import DEPLOY_DIR, StackError, load_env

TEMPLATE = DEPLOY_DIR / "nginx" / "nginx.conf.template"
PLACEHOLDER = re.compile(r"\$\{((?:NGINX|UPSTREAM)_[A-Z0-9_]+)\}")
NGINX_BIN = "nginx"
# Where the template puts the services behind it (the API and Dagster's webserver are told, so the links
# and documents they make carry the public paths).
API_PREFIX = "/api"
DAGSTER_PREFIX = "/dagster"
APP_PREFIX = "/app"


class NginxError(StackError):
    """The configuration could not be rendered or nginx rejected it."""


def placeholders(text: str | None = None) -> set[str]:
    """The `${NAME}`s the template needs."""
    return set(PLACEHOLDER.findall(TEMPLATE.read_text() if text is None else text))


def render(values: Mapping[str, str], template: Path = TEMPLATE) -> str:
    """The template with every placeholder replaced; a missing value is an error naming it."""
    text = template.read_text()
    missing = sorted(placeholders(text) - set(values))
    if missing:
        raise NginxError(f"{template.name} needs values for {', '.join(missing)}")
    return PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), text)


def api_body_limits() -> dict[str, str]:
    """The API's own limits (MLOPS_API_MAX_BODY_BYTES, MLOPS_API_MAX_UPLOAD_BYTES), in bytes."""
    from serving.config import ServingSettings

    serving = ServingSettings()
    return {
        "NGINX_API_MAX_BODY_SIZE": str(serving.max_body_bytes),
        "NGINX_API_MAX_UPLOAD_SIZE": str(serving.max_upload_bytes),
    }


def dev_certificate(folder: Path, hosts: tuple[str, ...] = ("localhost", "127.0.0.1")) -> tuple[Path, Path]:
    """A self-signed certificate (cert.pem, key.pem) for `hosts`, made once; for development and tests."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    if cert.exists() and key.exists():
        return cert, key
    folder.mkdir(parents=True, exist_ok=True)
    names = ",".join(f"IP:{h}" if h.replace(".", "").isdigit() else f"DNS:{h}" for h in hosts)
    done = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "825",
         "-subj", f"/CN={hosts[0]}/O=mlops-platform dev", "-addext", f"subjectAltName={names}",
         "-keyout", str(key), "-out", str(cert)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise NginxError(f"openssl could not make a dev certificate: {done.stderr.strip()}")
    key.chmod(0o600)
    return cert, key


def write_htpasswd(path: Path, user: str, password: str) -> Path:
    """One `user:hash` line (SHA-512 crypt, which nginx checks with the system's crypt())."""
    if not user or ":" in user or not password:
        raise NginxError("console credentials need a user name without ':' and a non-empty password")
    done = subprocess.run(
        ["openssl", "passwd", "-6", "-stdin"], input=password, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise NginxError(f"openssl could not hash the console password: {done.stderr.strip()}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{user}:{done.stdout.strip()}\n")
    path.chmod(0o644)  # nginx's workers read it per request; it holds a hash only
    return path


def nameserver() -> str:
    """The machine's first DNS server (for upstreams given by name; addresses need none)."""
    try:
        for line in Path("/etc/resolv.conf").read_text().splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] == "nameserver" and "." in parts[1]:
                return parts[1]
    except OSError:
        pass
    return "127.0.0.1"


def stack_values(env: Mapping[str, str], folder: Path) -> dict[str, str]:
    """The template's values for the process stack: upstreams on the machine, files under `folder`.
    NGINX_TLS_CERTIFICATE(_KEY) and NGINX_HTPASSWD in `env` replace the dev certificate and the
    htpasswd made from CONSOLE_USER / CONSOLE_PASSWORD."""
    host = env["STACK_HOST"]
    cert = env.get("NGINX_TLS_CERTIFICATE") or str(folder / "tls" / "cert.pem")
    return {
        "NGINX_PID_FILE": str(folder / "nginx.pid"),
        "NGINX_TEMP_DIR": str(folder / "tmp"),
        "NGINX_ERROR_LOG": "/dev/stderr",
        "NGINX_ACCESS_LOG": "/dev/stdout",
        "NGINX_RESOLVER": nameserver(),
        "NGINX_SERVER_NAME": env.get("NGINX_SERVER_NAME", "localhost"),
        "NGINX_HTTP_LISTEN": f"{host}:{env['NGINX_HTTP_PORT']}",
        "NGINX_HTTPS_LISTEN": f"{host}:{env['NGINX_HTTPS_PORT']}",
        "NGINX_PUBLIC_HTTPS_PORT": env["NGINX_HTTPS_PORT"],
        "NGINX_S3_LISTEN": f"{host}:{env['NGINX_S3_PORT']}",
        "NGINX_STATUS_LISTEN": f"127.0.0.1:{env['NGINX_STATUS_PORT']}",
        "NGINX_TLS_CERTIFICATE": cert,
        "NGINX_TLS_CERTIFICATE_KEY": env.get("NGINX_TLS_CERTIFICATE_KEY")
        or str(Path(cert).parent / "key.pem"),
        "NGINX_HTPASSWD": env.get("NGINX_HTPASSWD") or str(folder / "htpasswd"),
        "NGINX_PREDICT_RATE": env["NGINX_PREDICT_RATE"],
        "NGINX_PREDICT_BURST": env["NGINX_PREDICT_BURST"],
        **api_body_limits(),
        "UPSTREAM_API": f"{host}:{env['API_PORT']}",
        "UPSTREAM_APP": f"{host}:{env['APP_PORT']}",
        "UPSTREAM_DAGSTER": f"{host}:{env['DAGSTER_PORT']}",
        "UPSTREAM_MLFLOW": f"{host}:{env['MLFLOW_PORT']}",
        "UPSTREAM_RABBITMQ_MANAGEMENT": f"{host}:{env['RABBITMQ_MANAGEMENT_PORT']}",
        # SeaweedFS has no console; /minio/ reaches the S3 server itself in the process stack.
        "UPSTREAM_MINIO_CONSOLE": f"{host}:{env['S3_PORT']}",
        "UPSTREAM_S3": f"{host}:{env['S3_PORT']}",
    }


def nginx_command(conf: Path, *extra: str) -> list[str]:
    # As root nginx would run its workers as `nobody`, who cannot read a private state folder.
    user = " user root;" if os.geteuid() == 0 else ""
    binary = shutil.which(NGINX_BIN) or "/usr/sbin/nginx"
    return [
        binary,
        "-p",
        str(conf.parent),
        "-c",
        str(conf),
        "-e",
        "/dev/stderr",
        "-g",
        f"daemon off;{user}",
        *extra,
    ]


def write_config(values: Mapping[str, str], folder: Path) -> Path:
    """Render into `folder/nginx.conf`, create the temp folders, and let `nginx -t` judge it."""
    folder.mkdir(parents=True, exist_ok=True)
    Path(values["NGINX_TEMP_DIR"]).mkdir(parents=True, exist_ok=True)
    conf = folder / "nginx.conf"
    conf.write_text(render(values))
    if shutil.which(NGINX_BIN) is None and not Path("/usr/sbin/nginx").exists():
        raise NginxError("nginx is not installed: `make deploy-tools` installs it (Debian's nginx)")
    done = subprocess.run(nginx_command(conf, "-t", "-q"), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise NginxError(f"nginx rejected {conf}:\n{done.stderr.strip()}")
    return conf


def compose_values(environment: Mapping[str, str], folder: Path) -> dict[str, str]:
    """The Compose nginx service's environment, with its files moved under `folder` so `nginx -t` can run
    on this machine (the container's paths do not exist here); upstreams and limits stay as they are."""
    cert, key = dev_certificate(folder / "tls")
    return {
        **environment,
        "NGINX_PID_FILE": str(folder / "nginx.pid"),
        "NGINX_TEMP_DIR": str(folder / "tmp"),
        "NGINX_TLS_CERTIFICATE": str(cert),
        "NGINX_TLS_CERTIFICATE_KEY": str(key),
        "NGINX_HTPASSWD": str(folder / "htpasswd"),
    }


def check(compose_environment: Mapping[str, str]) -> list[str]:
    """`nginx -t` on both renderings; returns what was checked."""
    checked = []
    with tempfile.TemporaryDirectory(prefix="mlops-nginx-check-") as tmp:
        root = Path(tmp)
        write_config(compose_values(compose_environment, root / "compose"), root / "compose")
        checked.append("compose")
        stack_folder = root / "stack"
        dev_certificate(stack_folder / "tls")
        write_config(stack_values(load_env(), stack_folder), stack_folder)
        checked.append("stack")
    return checked


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.nginx", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="action", required=True)
    p = sub.add_parser("dev-cert", help="a self-signed certificate for localhost (kept if present)")
    p.add_argument("folder", type=Path)
    p.add_argument("--host", action="append", help="names and addresses (default localhost, 127.0.0.1)")
    p = sub.add_parser("htpasswd", help="the consoles' basic-auth file")
    p.add_argument("file", type=Path)
    p.add_argument("--user", default=os.environ.get("CONSOLE_USER", "admin"))
    sub.add_parser("check", help="nginx -t on the Compose (deploy/compose) and the stack renderings")
    args = parser.parse_args(argv)
    try:
        if args.action == "dev-cert":
            cert, key = dev_certificate(args.folder, tuple(args.host or ("localhost", "127.0.0.1")))
            print(f"{cert}\n{key}")
        elif args.action == "htpasswd":
            password = os.environ.get("CONSOLE_PASSWORD") or getpass.getpass(f"password for {args.user}: ")
            print(write_htpasswd(args.file, args.user, password))
        else:
            from deploy.compose_config import service_environment

            for flavor in check(service_environment("nginx")):
                print(f"nginx -t: {flavor} rendering ok")
    except (NginxError, StackError) as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
