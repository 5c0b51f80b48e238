"""The `onestop` command: a development token, and a production start refused with its reason."""

import jwt

from services.common.cli import main
from services.common.config import DEV_JWT_SECRET


def test_token_prints_only_a_token_with_the_asked_scope(capsys):
    assert main(["token", "--roles", "dispatcher,leader", "--jurisdictions", "140106", "--agency", "yingze"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    claims = jwt.decode(out.strip(), DEV_JWT_SECRET, algorithms=["HS256"])
    assert claims["roles"] == ["dispatcher", "leader"]
    assert claims["jurisdictions"] == ["140106"] and claims["agency"] == "yingze"


def test_token_refuses_an_unknown_role(capsys):
    assert main(["token", "--roles", "emperor", "--jurisdictions", "140106", "--agency", "x"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "emperor" in captured.err


def test_serve_in_production_with_development_secrets_refuses_and_says_why(monkeypatch, capsys):
    monkeypatch.setenv("ONESTOP_ENV", "prod")
    monkeypatch.delenv("ONESTOP_JWT_SECRET", raising=False)
    monkeypatch.delenv("ONESTOP_PII_KEY", raising=False)
    assert main(["serve", "intake"]) == 3
    err = capsys.readouterr().err
    assert "refusing to start in production mode" in err and "ONESTOP_JWT_SECRET" in err
