"""Approvals over HTTP, shared by the API and the dashboard: what a waiting step asks for,
and an approval bound to the action hash its approver was shown."""

from __future__ import annotations

from breakglass.respond.approval_view import ApprovalView, approval_view
from breakglass.respond.decisions import approval_request
from breakglass.webcore.schemas import ActionOut, ApprovalOut, ApprovalRequestOut, StepResultOut
from breakglass.webcore.security import AppState

__all__ = ["approval_out", "approve_bound", "request_out"]


def request_out(view: ApprovalView) -> ApprovalRequestOut:
    """``view`` as the API shows it."""
    shown = view.action
    action = None
    if shown is not None:
        action = ActionOut(
            hash=shown.hash,
            kind=shown.kind,
            summary=shown.summary,
            chain=shown.chain,
            chain_id=shown.chain_id,
            target=shown.target,
            target_name=shown.target_name,
            call=shown.call,
            signer=shown.signer,
            signer_address=shown.signer_address,
            production=shown.production,
        )
    return ApprovalRequestOut(
        requested=view.requested,
        action=action,
        approver=view.approver,
        approvals=view.approvals,
        needed=view.needed,
        approved_by=list(view.approved_by),
        expires_at=view.expires_at,
        problem=view.problem,
    )


def approval_out(state: AppState, step_id: int) -> ApprovalRequestOut | None:
    """What step ``step_id`` asks approval for, or None when it is not waiting for one."""
    view = approval_view(state.loaded, state.sessions, step_id=step_id)
    return request_out(view) if view is not None else None


def approve_bound(state: AppState, *, step_id: int, person: str, action: str) -> ApprovalOut:
    """Approve step ``step_id`` as ``person``, only if it still asks for ``action`` (the hash
    the approver was shown), and resume its run once it has every approval it needs.

    Raises:
        ApprovalError: the step asks for another action, the plan now builds another, the
            request expired, or ``person`` may not (or did already) approve it.
    """
    from breakglass.respond.env import LiveEnv  # noqa: PLC0415
    from breakglass.respond.service import approve_step  # noqa: PLC0415

    env = LiveEnv(state.loaded, state.sessions)
    result = approve_step(
        state.loaded, state.sessions, step_id, person, action=action.lower(), env=env
    )
    # A partial approval comes back as the step itself, still waiting; a complete one as
    # the resumed run, whose rows for that position are new.
    partial = result.status == "waiting" and any(
        s.step_id == step_id and s.status == "awaiting-approval" for s in result.steps
    )
    waiting = approval_view(state.loaded, state.sessions, step_id=step_id) if partial else None
    request = waiting or approval_request(state.sessions, step_id)
    approved_by = list(request.approved_by) if request is not None else [person]
    # A completed step had exactly the approvals it needed (the plan's or the request's).
    needed = waiting.needed if waiting is not None else len(approved_by)
    if partial:
        message = (
            f"approval by {person} recorded: {len(approved_by)} of {needed}; the step waits "
            f"for {needed - len(approved_by)} more, from other members, and nothing was sent"
        )
    else:
        message = f"approved by {', '.join(approved_by)}; the run resumed: {result.status}"
    steps = [
        StepResultOut(
            position=s.position,
            summary=s.summary,
            status=s.status,
            note=s.note,
            tx_hash=s.tx_hash,
            step_id=s.step_id,
            fallback_run_id=s.fallback.run_id if s.fallback is not None else None,
        )
        for s in result.steps
    ]
    return ApprovalOut(
        approval="partial" if partial else "complete",
        approvals=len(approved_by),
        needed=needed,
        approved_by=approved_by,
        action=action.lower(),
        message=message,
        playbook=result.playbook,
        run_id=result.run_id,
        status=result.status,
        steps=steps,
    )
