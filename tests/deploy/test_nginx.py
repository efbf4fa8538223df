"""The nginx template offline: one set of values per deployment, envsubst-compatible placeholders, and
`nginx -t` on the Compose and the process-stack renderings (deploy/nginx.py)."""

from __future__ import annotations

import re
import shutil

import pytest

from deploy.env import load_env
from deploy.nginx import (
    TEMPLATE,
    NginxError,
    check,
    dev_certificate,
    placeholders,
    render,
    stack_values,
    write_config,
)
from tests.conftest import require


def nginx_installed() -> None:
    require(
        shutil.which("nginx") is not None or shutil.which("/usr/sbin/nginx") is not None,
        "nginx (make deploy-tools)",
    )


def test_the_template_has_only_our_placeholders_and_nginx_variables():
    """The nginx image's envsubst replaces ${NGINX_*}/${UPSTREAM_*} only (NGINX_ENVSUBST_FILTER); every
    other `$name` must be one of nginx's own, lower-case, variables."""
    text = TEMPLATE.read_text()
    others = set(re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", text)) - placeholders(text)
    assert others and all(name == name.lower() for name in others), sorted(others)


def test_the_stack_gives_every_placeholder_and_a_missing_one_is_named(tmp_path):
    values = stack_values(load_env(environ={}), tmp_path)
    assert placeholders() <= set(values)
    rendered = render(values)
    assert "${" not in rendered
    with pytest.raises(NginxError, match="UPSTREAM_API"):
        render({k: v for k, v in values.items() if k != "UPSTREAM_API"})


def test_both_renderings_pass_nginx_t():
    nginx_installed()
    from deploy.compose_config import service_environment

    require(shutil.which("docker-compose") is not None, "docker-compose (make deploy-tools)")
    assert check(service_environment("nginx")) == ["compose", "stack"]


def test_nginx_t_rejects_a_broken_value_with_its_message(tmp_path):
    nginx_installed()
    dev_certificate(tmp_path / "tls")
    values = {**stack_values(load_env(environ={}), tmp_path), "NGINX_PREDICT_RATE": "fast"}
    with pytest.raises(NginxError, match="invalid rate"):
        write_config(values, tmp_path)
