"""Local signers: an encrypted keystore and a raw key from the environment, the errors a
person sees when one cannot be loaded, and that neither errors nor ``repr`` carry a key."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import structlog
from eth_account import Account

from breakglass.plan.loader import LoadedPlan, load_plan
from breakglass.respond.signers.local import SignerError, load_local_signer

# anvil's well-known account 1; any valid key would do.
KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
ADDRESS = Account.from_key(KEY).address
OTHER_ADDRESS = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"  # anvil account 2
PASSWORD = "correct horse battery staple"


def _plan(tmp_path: Path, signers: str) -> LoadedPlan:
    text = textwrap.dedent(
        """
        version: 1
        protocol: Signer Test
        people:
          alice: {name: Alice}
        roles:
          incident_lead: [alice]
          pauser: {members: [alice], handles: [pause]}
        chains:
          local: {chain_id: 31337, rpc: ["http://127.0.0.1:8545"]}
        contracts:
          vault: {chain: local, address: "0x7777777777777777777777777777777777777777"}
        signers:
        """
    ) + textwrap.indent(textwrap.dedent(signers), "  ")
    path = tmp_path / "breakglass.yaml"
    path.write_text(text)
    return load_plan(path)


@pytest.fixture
def keystore(tmp_path: Path) -> Path:
    path = tmp_path / "keys" / "guardian.json"
    path.parent.mkdir()
    encrypted = Account.encrypt(KEY, PASSWORD, kdf="pbkdf2", iterations=2)
    path.write_text(json.dumps(encrypted))
    return path


def _keystore_plan(tmp_path: Path, extra: str = "") -> LoadedPlan:
    return _plan(
        tmp_path,
        f"""
        guardian:
          type: keystore
          path: keys/guardian.json
          password: "${{GUARDIAN_PASSWORD}}"
          {extra}
        """,
    )


def _secret_free(message: str) -> None:
    for secret in (PASSWORD, KEY, KEY[2:], KEY[2:].upper()):
        assert secret not in message


def test_keystore_signer_decrypts_with_the_password_from_the_environment(
    tmp_path: Path, keystore: Path
) -> None:
    loaded = _keystore_plan(tmp_path)
    signer = load_local_signer(
        loaded.plan,
        "guardian",
        base_dir=loaded.base_dir,
        environ={"GUARDIAN_PASSWORD": PASSWORD},
    )
    assert signer.name == "guardian"
    assert signer.address == ADDRESS
    assert signer.account.key.to_0x_hex() == KEY


def test_keystore_path_may_be_absolute(tmp_path: Path, keystore: Path) -> None:
    loaded = _plan(
        tmp_path,
        f"""
        guardian: {{type: keystore, path: "{keystore}", password: "${{PW}}"}}
        """,
    )
    signer = load_local_signer(
        loaded.plan, "guardian", base_dir=tmp_path / "elsewhere", environ={"PW": PASSWORD}
    )
    assert signer.address == ADDRESS


def test_wrong_password_names_the_file_but_not_the_password_or_key(
    tmp_path: Path, keystore: Path
) -> None:
    loaded = _keystore_plan(tmp_path)
    wrong = "not the password at all"
    with pytest.raises(SignerError) as caught:
        load_local_signer(
            loaded.plan, "guardian", base_dir=loaded.base_dir, environ={"GUARDIAN_PASSWORD": wrong}
        )
    message = str(caught.value)
    assert str(keystore) in message
    assert "wrong password" in message
    assert "'guardian'" in message
    assert wrong not in message
    _secret_free(message)
    # ``from None``: no chained exception carries the keystore internals either.
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


def test_missing_password_variable_is_named(tmp_path: Path, keystore: Path) -> None:
    loaded = _keystore_plan(tmp_path)
    with pytest.raises(SignerError, match=r"password variable GUARDIAN_PASSWORD is not set"):
        load_local_signer(loaded.plan, "guardian", base_dir=loaded.base_dir, environ={})


def test_missing_keystore_file_is_named(tmp_path: Path) -> None:
    loaded = _keystore_plan(tmp_path)
    with pytest.raises(SignerError, match=r"cannot read keystore .*guardian\.json"):
        load_local_signer(
            loaded.plan, "guardian", base_dir=loaded.base_dir, environ={"GUARDIAN_PASSWORD": "x"}
        )


def test_a_file_that_is_no_keystore(tmp_path: Path, keystore: Path) -> None:
    keystore.write_text("not json {")
    loaded = _keystore_plan(tmp_path)
    with pytest.raises(SignerError, match="is not a JSON keystore"):
        load_local_signer(
            loaded.plan,
            "guardian",
            base_dir=loaded.base_dir,
            environ={"GUARDIAN_PASSWORD": PASSWORD},
        )


def test_address_other_than_the_plans_is_refused(tmp_path: Path, keystore: Path) -> None:
    loaded = _keystore_plan(tmp_path, extra=f'address: "{OTHER_ADDRESS}"')
    with pytest.raises(SignerError) as caught:
        load_local_signer(
            loaded.plan,
            "guardian",
            base_dir=loaded.base_dir,
            environ={"GUARDIAN_PASSWORD": PASSWORD},
        )
    message = str(caught.value)
    assert ADDRESS in message
    assert OTHER_ADDRESS in message
    _secret_free(message)


def test_matching_address_in_any_case_is_accepted(tmp_path: Path, keystore: Path) -> None:
    loaded = _keystore_plan(tmp_path, extra=f'address: "{ADDRESS.lower()}"')
    signer = load_local_signer(
        loaded.plan, "guardian", base_dir=loaded.base_dir, environ={"GUARDIAN_PASSWORD": PASSWORD}
    )
    assert signer.address == ADDRESS


def test_no_password_reference_needs_a_prompt(tmp_path: Path, keystore: Path) -> None:
    loaded = _plan(tmp_path, "guardian: {type: keystore, path: keys/guardian.json}\n")
    with pytest.raises(SignerError, match="no password reference and there is no prompt"):
        load_local_signer(loaded.plan, "guardian", base_dir=loaded.base_dir, environ={})

    asked: list[str] = []

    def prompt(question: str) -> str:
        asked.append(question)
        return PASSWORD

    signer = load_local_signer(
        loaded.plan, "guardian", base_dir=loaded.base_dir, environ={}, prompt=prompt
    )
    assert signer.address == ADDRESS
    assert asked == ["Password for signer 'guardian': "]


def test_env_signer_loads_a_raw_key_and_warns_loudly(tmp_path: Path) -> None:
    loaded = _plan(tmp_path, 'guardian: {type: env, key: "${GUARDIAN_KEY}"}\n')
    with structlog.testing.capture_logs() as logs:
        signer = load_local_signer(
            loaded.plan, "guardian", base_dir=loaded.base_dir, environ={"GUARDIAN_KEY": KEY}
        )
    assert signer.address == ADDRESS
    warnings = [r for r in logs if r["event"] == "signer.raw_key_from_environment"]
    assert len(warnings) == 1
    assert warnings[0]["log_level"] == "warning"
    assert warnings[0]["signer"] == "guardian"
    assert "keystore" in warnings[0]["advice"]
    _secret_free(repr(logs))


def test_env_signer_accepts_a_key_without_0x(tmp_path: Path) -> None:
    loaded = _plan(tmp_path, 'guardian: {type: env, key: "${GUARDIAN_KEY}"}\n')
    signer = load_local_signer(
        loaded.plan, "guardian", base_dir=loaded.base_dir, environ={"GUARDIAN_KEY": KEY[2:]}
    )
    assert signer.address == ADDRESS


def test_env_signer_missing_variable_and_bad_key(tmp_path: Path) -> None:
    loaded = _plan(tmp_path, 'guardian: {type: env, key: "${GUARDIAN_KEY}"}\n')
    with pytest.raises(SignerError, match="key variable GUARDIAN_KEY is not set"):
        load_local_signer(loaded.plan, "guardian", base_dir=loaded.base_dir, environ={})
    bad = "0x" + "zz" * 32
    with pytest.raises(SignerError, match="GUARDIAN_KEY holds no valid private key") as caught:
        load_local_signer(
            loaded.plan, "guardian", base_dir=loaded.base_dir, environ={"GUARDIAN_KEY": bad}
        )
    assert bad not in str(caught.value)


def test_a_safe_is_no_local_signer(tmp_path: Path) -> None:
    loaded = _plan(
        tmp_path,
        """
        ops_safe:
          type: safe
          chain: local
          address: "0x5555555555555555555555555555555555555555"
          threshold: 2
        """,
    )
    with pytest.raises(SignerError, match="'ops_safe' is a Safe"):
        load_local_signer(loaded.plan, "ops_safe", base_dir=loaded.base_dir, environ={})


def test_unknown_signer_lists_the_known_ones(tmp_path: Path) -> None:
    loaded = _plan(tmp_path, 'guardian: {type: env, key: "${GUARDIAN_KEY}"}\n')
    with pytest.raises(SignerError, match=r"no signer 'guardain' \(signers: guardian\)"):
        load_local_signer(loaded.plan, "guardain", base_dir=loaded.base_dir, environ={})


def test_repr_and_str_show_no_key_material(tmp_path: Path, keystore: Path) -> None:
    loaded = _keystore_plan(tmp_path)
    signer = load_local_signer(
        loaded.plan, "guardian", base_dir=loaded.base_dir, environ={"GUARDIAN_PASSWORD": PASSWORD}
    )
    for text in (repr(signer), str(signer), f"{signer}", repr([signer])):
        assert "guardian" in text
        assert ADDRESS in text
        _secret_free(text)
        assert KEY[2:].lower() not in text.lower()
