from pathlib import Path

import pytest
from pydantic import ValidationError

from citysoc.core.config import hash_token, load_settings


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "c.yaml"
    p.write_text(text)
    return p


def test_defaults_env_overrides_and_frozen(tmp_path: Path) -> None:
    s = load_settings(None, env={"CITYSOC_STORE_DSN": "http://127.0.0.1:9", "CITYSOC_BUS": "kafka"})
    assert s.store.dsn == "http://127.0.0.1:9" and s.bus.kind == "kafka"
    assert s.bus.topic("events.raw") == "citysoc.events.raw"
    with pytest.raises(ValidationError):
        s.bus.kind = "memory"  # type: ignore[misc]


def test_tokens_are_matched_by_digest_only(tmp_path: Path) -> None:
    cfg = write(
        tmp_path,
        f"""
auth: {{admin_tokens: ["{hash_token("adm")}"]}}
agencies:
  - {{code: a1, ingest_tokens: ["{hash_token("t1")}"]}}
  - {{code: a2, ingest_tokens: ["{hash_token("t2")}"]}}
""",
    )
    s = load_settings(cfg, env={})
    assert s.is_admin_token("adm") and not s.is_admin_token("t1")
    a = s.agency_for_token("t2")
    assert a is not None and a.code == "a2"
    assert s.agency_for_token("adm") is None and s.agency_for_token("") is None


@pytest.mark.parametrize(
    "text, message",
    [
        ("auth: {admin_tokens: [plaintext]}", "sha256"),
        ("agencies: [{code: A B}]", "pattern"),
        ("agencies: [{code: a}, {code: a}]", "unique"),
        ("agencies: [{code: a}]\nsources: [{agency: b, system: s}]", "unknown agency"),
        ("sources: []\nagencies: [{code: a}]\nunknown_key: 1", "extra"),
        ("agencies: [{code: a}]\nsources: [{agency: a, system: s, cidrs: [not-a-cidr]}]", "does not appear"),
    ],
)
def test_invalid_config_is_rejected_with_reason(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ValueError) as e:
        load_settings(write(tmp_path, text), env={})
    assert message.lower() in str(e.value).lower()


def test_shared_ingest_token_is_rejected(tmp_path: Path) -> None:
    t = hash_token("same")
    with pytest.raises(ValueError, match="shared"):
        load_settings(
            write(
                tmp_path,
                f'agencies: [{{code: a, ingest_tokens: ["{t}"]}}, {{code: b, ingest_tokens: ["{t}"]}}]',
            ),
            env={},
        )


def test_cli_takes_config_before_or_after_the_subcommand(tmp_path: Path) -> None:
    from citysoc.cli import build_parser

    cfg = tmp_path / "x.yaml"
    assert build_parser().parse_args(["--config", str(cfg), "run"]).config == cfg
    assert build_parser().parse_args(["run", "--config", str(cfg)]).config == cfg
    assert build_parser().parse_args(["store", "migrate", "--config", str(cfg)]).config == cfg
    assert build_parser().parse_args(["run"]).config is None
