"""Commands that write files create missing directories and turn what cannot be written into
one clear line and exit code 2, never a traceback: status render, postmortem, drill
tabletop, init, analyze tx, safe export, recover distribution and the news store."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from eth_account import Account

from breakglass import store
from breakglass.errors import OutputError
from breakglass.incidents import service
from breakglass.outputs import output_dir, output_file, write_text
from breakglass.plan.models import Plan
from breakglass.recovery.merkle import MerkleDistribution
from breakglass.recovery.service import write_distribution
from breakglass.report.news import NewsStore
from breakglass.respond.safes import import_proposal
from breakglass.respond.signers.safe import SafeTxData, sign_safe_tx, to_service_json

PLAN_YAML = """
protocol: Acme Lending
people: {alice: {name: Alice}}
roles: {incident_lead: [alice]}
chains: {mainnet: {chain_id: 1, rpc: ["http://127.0.0.1:9"]}}
contracts: {pool: {chain: mainnet, address: "0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}}
"""


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A directory with a plan, an empty database holding one incident, and a plain file."""
    (tmp_path / "breakglass.yaml").write_text(PLAN_YAML)
    (tmp_path / "FILE").write_text("not a directory")
    url = f"sqlite:///{tmp_path / 'bg.db'}"
    store.upgrade(url)
    engine = store.make_engine(url)
    plan = Plan.model_validate(yaml.safe_load(PLAN_YAML))
    with store.session_factory(engine)() as session, session.begin():
        service.open_incident(
            session,
            plan,
            title="Pool drain",
            kind="exploit",
            severity="P1",
            chains=["mainnet"],
            contracts=["pool"],
            detected_at=datetime(2026, 3, 1, tzinfo=UTC),
        )
    engine.dispose()
    return tmp_path


Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run(cli: Run, workdir: Path) -> Run:
    """``breakglass ARGS`` in ``workdir``, on its database, with no plan from the environment."""
    env = {
        "BREAKGLASS_DATABASE_URL": f"sqlite:///{workdir / 'bg.db'}",
        "BREAKGLASS_HOME": str(workdir / ".breakglass"),
        "BREAKGLASS_PLAN": None,
    }

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return cli(*args, cwd=workdir, env=env, stdin=stdin)

    return run


def _refused(result: subprocess.CompletedProcess[str], message: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr, result.stderr


def test_status_render_into_a_path_under_a_file_is_refused(workdir: Path, run: Run) -> None:
    result = run("status", "render", "--out", "FILE/x")
    _refused(result, "cannot create directory FILE/x: FILE is a file, not a directory")


def test_status_render_creates_missing_directories(workdir: Path, run: Run) -> None:
    result = run("status", "render", "--out", "public/deep/site")
    assert result.returncode == 0, result.stderr
    assert (workdir / "public/deep/site/index.html").is_file()


def test_postmortem_into_a_path_under_a_file_is_refused(workdir: Path, run: Run) -> None:
    result = run("postmortem", "1", "--out", "FILE/x")
    _refused(result, "cannot create directory FILE/x: FILE is a file, not a directory")


def test_postmortem_creates_missing_directories(workdir: Path, run: Run) -> None:
    result = run("postmortem", "1", "--out", "reports/2026")
    assert result.returncode == 0, result.stderr
    assert (workdir / "reports/2026/postmortem-1.md").is_file()


def test_drill_tabletop_into_an_existing_directory_uses_the_default_name(
    workdir: Path, run: Run
) -> None:
    (workdir / "drills").mkdir()
    result = run("drill", "tabletop", "vault-drain", "--output", "drills", stdin="\n" * 20)
    assert result.returncode == 0, result.stderr
    [report] = (workdir / "drills").iterdir()
    assert report.name.endswith("-tabletop-vault-drain.md")


def test_drill_tabletop_under_a_file_is_refused_before_it_starts(workdir: Path, run: Run) -> None:
    result = run("drill", "tabletop", "vault-drain", "--output", "FILE/r.md")
    _refused(result, "cannot create directory FILE: FILE is a file")
    assert "Tabletop" not in result.stdout


def test_init_under_a_file_is_refused(workdir: Path, run: Run) -> None:
    result = run("init", "FILE/x")
    _refused(result, "cannot create directory FILE/x: FILE is a file, not a directory")


def test_analyze_tx_out_under_a_file_is_refused_before_the_chain_is_asked(
    workdir: Path, run: Run
) -> None:
    result = run("analyze", "tx", "0x" + "ab" * 32, "--out", "FILE/t.json")
    _refused(result, "cannot create directory FILE: FILE is a file")


def test_safe_export_out_under_a_file_is_refused(workdir: Path, run: Run) -> None:
    owner = Account.from_key("0x" + "11" * 32)
    zero = "0x" + "00" * 20
    tx = SafeTxData(1, "0x" + "5a" * 20, "0x" + "aa" * 20, 0, b"", 0, 0, 0, 0, zero, zero, 7)
    document = to_service_json(tx, {owner.address: sign_safe_tx(tx, owner)})
    engine = store.make_engine(f"sqlite:///{workdir / 'bg.db'}")
    proposal = import_proposal(
        store.session_factory(engine),
        document,
        chain="mainnet",
        chain_id=1,
        threshold=1,
        owners=[owner.address],
    )
    engine.dispose()
    _refused(
        run("safe", "export", str(proposal), "--out", "FILE/p.json"),
        "cannot create directory FILE: FILE is a file",
    )
    result = run("safe", "export", str(proposal), "--out", "exports/p.json")
    assert result.returncode == 0, result.stderr
    assert '"nonce": 7' in (workdir / "exports" / "p.json").read_text()


def test_drill_run_under_a_file_is_refused_before_the_chain_starts(workdir: Path, run: Run) -> None:
    result = run("drill", "run", "vault-drain", "--output", "FILE/r.md")
    _refused(result, "cannot create directory FILE: FILE is a file")
    assert "anvil" not in result.stdout + result.stderr


def test_demo_into_a_file_is_refused_before_the_chain_starts(workdir: Path, run: Run) -> None:
    _refused(run("demo", "--dir", "FILE"), "FILE is a file")


def test_recover_distribution_files_under_a_file_are_refused(tmp_path: Path) -> None:
    (tmp_path / "FILE").write_text("")
    tree = MerkleDistribution.build({"0x" + "11" * 20: 5, "0x" + "22" * 20: 7})
    with pytest.raises(OutputError, match="FILE is a file, not a directory"):
        write_distribution(tree, tmp_path / "FILE" / "out")
    tree_path, claims_path = write_distribution(tree, tmp_path / "new" / "dir")
    assert tree_path.is_file() and claims_path.is_file()


def test_news_store_under_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "FILE").write_text("")
    with pytest.raises(OutputError, match="FILE is a file"):
        NewsStore(tmp_path / "FILE" / "news.json").save()


def test_output_file_in_a_directory(tmp_path: Path) -> None:
    assert output_file(tmp_path, default_name="r.md") == tmp_path / "r.md"
    with pytest.raises(OutputError, match="it is a directory; name a file"):
        output_file(tmp_path)
    with pytest.raises(OutputError, match="it is a directory"):
        write_text(tmp_path, "x")


def test_output_dir_names_the_blocking_file(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("")
    with pytest.raises(OutputError, match=r"a/b/c: .*a is a file, not a directory"):
        output_dir(tmp_path / "a" / "b" / "c")
    with pytest.raises(OutputError, match=r"cannot create directory .*a: .*a is a file$"):
        output_dir(tmp_path / "a")
    assert output_dir(tmp_path / "x" / "y").is_dir()
