"""The demo protocol's incident-response plan, written as a commented ``breakglass.yaml``.

The guardian's key is referenced as ``${BREAKGLASS_DEMO_GUARDIAN_KEY}``: the demo sets that
variable in its own process and never writes the key to disk. Review and drill dates are
written relative to ``today`` so the plan passes ``breakglass plan check`` whenever it runs.
"""

from __future__ import annotations

from datetime import date, timedelta

from breakglass.demo.protocol import Protocol

__all__ = ["GUARDIAN_ENV", "LARGE_OUTFLOW_DUSD", "plan_yaml"]

GUARDIAN_ENV = "BREAKGLASS_DEMO_GUARDIAN_KEY"
LARGE_OUTFLOW_DUSD = 50_000
"""An outflow of the pool at or above this many dUSD in one transfer is an alert (honest
borrowers take 40,000 each)."""


def plan_yaml(
    protocol: Protocol, *, http_url: str, ws_url: str, webhook_url: str, today: date
) -> str:
    """The plan text for the deployed ``protocol`` on the anvil at ``http_url``/``ws_url``;
    notifications go to the local JSON webhook at ``webhook_url``."""
    p = protocol
    reviewed = (today - timedelta(days=3)).isoformat()
    drilled = (today - timedelta(days=10)).isoformat()
    owners = "\n".join(f'      - "{owner}"' for owner in p.safe_owners)
    return f"""\
# Incident-response plan of Demo Lending, written by `breakglass demo`.
# A lending pool on a local anvil chain: suppliers lend dUSD, borrowers post dETH and
# borrow dUSD; dETH is priced at the spot price of a Uniswap V2 pair (the flaw the demo's
# attacker exploits). Adapt it: change addresses, people and thresholds, then run
#   breakglass plan check breakglass.yaml
# Secrets never go in this file: ${{{GUARDIAN_ENV}}} is read from the environment.
version: 1
protocol: Demo Lending
description: Over-collateralised dUSD lending pool, dETH collateral, on a local anvil chain.

# Everyone who may be called during an incident (contacts reviewed every 90 days).
people:
  alice:
    name: Alice (incident lead)
    timezone: UTC
    contacts: [{{kind: email, value: alice@demo.example, reviewed_on: {reviewed}}}]
    page: "{webhook_url}/page/alice"
  bob:
    name: Bob (guardian operator)
    timezone: UTC
    contacts: [{{kind: email, value: bob@demo.example, reviewed_on: {reviewed}}}]
    page: "{webhook_url}/page/bob"
  carol:
    name: Carol (Safe signer)
    timezone: UTC
    contacts: [{{kind: email, value: carol@demo.example, reviewed_on: {reviewed}}}]
    page: "{webhook_url}/page/carol"
  dave:
    name: Dave (comms)
    timezone: UTC
    contacts: [{{kind: email, value: dave@demo.example, reviewed_on: {reviewed}}}]
    page: "{webhook_url}/page/dave"

# Who does what; critical roles have two people.
roles:
  incident_lead: {{members: [alice, bob], handles: [coordinate]}}
  pauser: {{members: [bob, carol], handles: [pause, unpause]}}
  safe_signer: {{members: [alice, carol, bob], handles: [safe-proposal, safe-sign, upgrade]}}
  deployer: {{members: [carol, alice], handles: [deploy]}}
  frontend: {{members: [dave, bob], handles: [frontend]}}
  comms: {{members: [dave, alice], handles: [comms]}}
  scribe: {{members: [carol, dave], handles: [scribe]}}

# The local anvil the demo started (http and websocket on the same port).
chains:
  local:
    chain_id: {p.chain_id}
    confirmations: 0
    block_time: 1
    gas: {{max_priority_fee_gwei: 50, max_fee_gwei: 500}}
    rpc:
      - {{url: "{http_url}", ws: "{ws_url}"}}

contracts:
  pool:
    chain: local
    address: "{p.pool}"
    abi: abis/DemoLendingPool.json
    description: The lending pool; holds every supplier's dUSD and every borrower's dETH.
    owner: ops_safe
    admin: ops_safe
    pause: {{function: "pause()", check: "paused()", unpause: "unpause()"}}
  dusd:
    chain: local
    address: "{p.usd}"
    abi: abis/ERC20PresetMinterPauser.json
    description: dUSD, the asset suppliers lend (OpenZeppelin ERC20PresetMinterPauser).
  oracle_pair:
    chain: local
    address: "{p.oracle_pair}"
    description: Uniswap V2 dETH/dUSD pair whose reserves price the pool's collateral.

# Keys breakglass may sign with. The guardian holds only PAUSER_ROLE; the Safe is the admin.
signers:
  guardian:
    type: env
    key: ${{{GUARDIAN_ENV}}}
    address: "{p.guardian}"
  ops_safe:
    type: safe
    chain: local
    address: "{p.safe}"
    threshold: 2
    owners:
{owners}

dependencies:
  uniswap_v2:
    kind: upstream-protocol
    description: The dETH/dUSD pair is the pool's price oracle.
    contact: security@uniswap.example

# What is abnormal.
rules:
  - id: pool-drain
    rule: large-outflow
    contracts: [pool]
    severity: critical
    params: {{token: "{p.usd}", symbol: dUSD, threshold: {LARGE_OUTFLOW_DUSD}}}
    description: At least {LARGE_OUTFLOW_DUSD:,} dUSD leaves the pool in one transfer.
  - id: oracle-manipulated
    rule: large-outflow
    contracts: [oracle_pair]
    severity: high
    params: {{token: "{p.usd}", symbol: dUSD, threshold: 150000}}
    description: A very large dUSD swap out of the oracle pair (price manipulation).
  - id: dusd-mint-spike
    rule: unexpected-mint
    contracts: [dusd]
    severity: high
    params: {{max_increase_percent: 10}}
    description: dUSD's supply jumps by more than 10% in one block.

alerting:
  suppress_for: 10m
  group_by: contract
  correlate_within: 30m

# What to do when a rule fires: simulate, send, verify; on failure, the Safe pauses.
playbooks:
  - id: exploit
    description: Pause the pool with the guardian key, then tell the team.
    on: [pool-drain, oracle-manipulated]
    fallback: >-
      If the pause does not land, the Safe signers execute safe-pause and the front end is
      taken down; the incident lead calls SEAL 911.
    steps:
      - {{action: pause, contract: pool, signer: guardian, mode: auto, verify: "paused()",
         on_failure: safe-pause}}
      - {{action: page, role: incident_lead}}
      - {{action: notify, channel: war-room, message: "Pool paused after a suspected exploit."}}
  - id: safe-pause
    description: The guardian could not pause; the Safe (2 of 3) pauses instead.
    fallback: Signers meet in the war room and pause by hand through the Safe interface.
    steps:
      - {{action: safe-proposal, safe: ops_safe, contract: pool, function: "pause()",
         mode: approval, verify: "paused()"}}
      - {{action: page, role: safe_signer}}

# Notifications go to a JSON webhook the demo serves locally (see notifications.jsonl).
channels:
  war-room: {{url: "{webhook_url}/war-room", audience: internal}}
  status: {{url: "{webhook_url}/status", audience: external}}
  security-news: {{url: "{webhook_url}/security-news", audience: internal}}

communication:
  internal: [war-room]
  external: [status]
  update_cadence: 1h
  spokesperson: comms
  status_page: status/index.html
  guidelines: Plain language; say whether funds are safe and when the next update comes.

deployment:
  process: >-
    Contracts are compiled with solcjs from a tagged commit, reviewed by two deployers, and
    the admin role is handed to ops_safe in the deployment itself.
  tooling: solcjs
  reviewers: [deployer, safe_signer]
  checklist: [Audit report for the exact commit, DEFAULT_ADMIN_ROLE held by ops_safe only]
  emergency_process: >-
    A hotfix is reviewed by an auditor on call and proposed to ops_safe; the incident lead
    approves the rollout.
  verification: Bytecode is compared with the build artefacts.

# How users are made whole (paid through a Merkle distribution of dUSD).
compensation_policy:
  decision_owner: incident_lead
  timeframe: A decision within 7 days; payment within 30 days through a Merkle distribution.
  contract_flaw: {{covered: true, coverage: 1, rationale: "Our code, our responsibility."}}
  user_error: {{covered: false, coverage: 0, rationale: "Lost keys are not covered."}}
  third_party_flaw: {{covered: true, coverage: 0.5, rationale: "Shared with the third party."}}
  individual_loss: Each supplier is paid what they lost, per address.
  aggregate_loss: If losses exceed the treasury, payments are pro rata.
  exclusions: [attacker-cluster]

# How losses are measured: a supplier's position is their share of the pool's cash.
analysis:
  from_block: {p.deployed_at}
  positions:
    - {{contract: pool, view: "withdrawable(address)", asset: "{p.usd}"}}
  # Known addresses: funds moved there are reported with their kind and name.
  labels:
    - {{address: "{p.oracle_pair}", kind: exchange, name: Uniswap V2 dETH/dUSD}}
    - {{address: "{p.lender_pair}", kind: exchange, name: Uniswap V2 dUSD/dBTC}}

news_sources:
  channel: security-news
  components:
    openzeppelin:
      kind: library
      owner: bob
      version: 4.9.6
      package: "npm:@openzeppelin/contracts"
      sources:
        - name: OpenZeppelin advisories
          url: "https://github.com/OpenZeppelin/openzeppelin-contracts/security/advisories"
          kind: github-advisories

external_parties:
  auditor:
    kind: auditor
    contact: oncall@auditor.example
    engage_when: Any exploit of our contracts, and before any hotfix is deployed.
    how: The auditor joins the war room.
    owner: incident_lead
  uniswap:
    kind: protocol
    contact: security@uniswap.example
    engage_when: The attack uses the Uniswap pair we price from.
    how: Security contact email.
    owner: incident_lead
  seal911:
    kind: seal-911
    contact: "https://t.me/seal_911_bot"
    engage_when: Funds are at risk and a pause is not enough.
    how: The incident lead opens a SEAL 911 chat with the attack transactions.
    owner: incident_lead
  users:
    kind: affected-users
    contact: status/index.html
    engage_when: Within one hour of a confirmed incident.
    how: The status page.
    owner: comms

regulatory:
  applies: false
  reason: A demo on a local chain; no users' funds or personal data are involved.

scenarios:
  oracle-manipulation:
    description: A flash swap moves the oracle pair's spot price; the pool lends against it.
    likelihood: high
    impact: critical
    dependencies: [uniswap_v2]
    detected_by: [pool-drain, oracle-manipulated]
    mitigated_by: [exploit]
  guardian-fails:
    description: The guardian's pause does not land; the Safe pauses.
    likelihood: low
    impact: high
    detected_by: [pool-drain]
    mitigated_by: [safe-pause]

drills:
  schedule:
    - {{scenario: oracle-manipulation, interval: 30d, last_run: {drilled}, owner: incident_lead}}
    - {{scenario: guardian-fails, interval: 90d, last_run: {drilled}, owner: incident_lead}}
"""
