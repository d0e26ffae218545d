"""The four peers: who keeps the state, who decides the transition, who writes the rows.

  raw sqlite3                  the state graph as a dict read from flows/itr/itr_issue.yaml; SqliteStore
  transitions + Core           a `transitions.Machine` built from the same YAML; CoreStore
  python-statemachine + SQLModel  a `StateMachine` class written out by hand; OrmStore (instance and issue
                               rows loaded as SQLModel objects)
  SpiffWorkflow                itr_issue.bpmn, the workflow deserialised from flow_instance.data, the user
                               task completed, serialised back; SqliteStore

Every peer runs the guards and actions of engine/bench_peers/itr.py, so the reads and rows are the same
as mcr's; one event = one transaction (`send`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from engine.bench_peers import itr
from engine.bench_peers.stores import CoreStore, OrmStore, SqliteStore

ACTION_OF = {"itr_dispatch": "dispatch", "itr_accept": "accept", "itr_escalate": "escalate", "itr_resolve": "resolve",
             "itr_close": "close", "itr_record_callback": "callback"}
GUARDS: dict[str, Callable[[itr.Step], bool]] = {
    "itr_callback_needed": itr.callback_needed, "itr_callback_unreached": itr.callback_unreached,
    "itr_callback_score_ok": itr.callback_score_ok,
    "itr_level_office": lambda s: s.data.get("level") == "office",
    "itr_level_region": lambda s: s.data.get("level") == "region"}


def _yaml_transitions() -> list[dict[str, Any]]:
    from flows.itr import __file__ as pkg
    from engine.yamlsrc import load_yaml

    return load_yaml(Path(pkg).parent / "itr_issue.yaml")["transitions"]


def _act(step: itr.Step, actions: list[str]) -> None:
    for name in actions:
        if name not in ACTION_OF:
            raise NotImplementedError(f"{name}: not in the bench's life cycle")
        itr.ACTIONS[ACTION_OF[name]](step)


class _Peer:
    name = ""

    def __init__(self, path: Path, synchronous: str) -> None:
        self.store: Any = None

    def open(self, **fields: Any) -> int:
        with self.store.tx() as s:
            return itr.open_issue(s, **fields)

    def _load(self, s: Any, iid: int) -> tuple[str, int, str]:
        return s.one("SELECT state, version, data FROM flow_instance WHERE id = :i", {"i": iid})

    def send(self, iid: int, event: str, *, actor: str, now_us: int, payload: dict[str, Any] | None = None) -> itr.Step:
        with self.store.tx() as s:
            state, version, data = self._load(s, iid)
            step = itr.Step(s, iid, state, version, json.loads(data), event, actor, now_us, payload or {})
            target = self.fire(step)
            s.update("flow_instance", iid, itr.finish(step, target))
            step.state = target
            return step

    def fire(self, step: itr.Step) -> str:
        raise NotImplementedError

    def close(self) -> None:
        self.store.close()


class RawPeer(_Peer):
    """No library: the first transition of the YAML whose source, event and guard match."""

    name = "raw_sqlite3"

    def __init__(self, path: Path, synchronous: str) -> None:
        self.store = SqliteStore(path, synchronous)
        self.table: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for tr in _yaml_transitions():
            sources = tr["from"] if isinstance(tr["from"], list) else [tr["from"]]
            for src in sources:
                self.table.setdefault((src, tr["event"]), []).append(tr)

    def fire(self, step: itr.Step) -> str:
        for tr in self.table.get((step.state, step.event), []) + self.table.get(("*", step.event), []):
            if "guard" not in tr or GUARDS[tr["guard"]](step):
                _act(step, tr.get("actions", []))
                return tr.get("to", step.state)
        raise ValueError(f"{step.event} not allowed in {step.state}")


class TransitionsPeer(_Peer):
    """pytransitions: one Machine built from the YAML, the issue's model object put in the loaded state."""

    name = "transitions_core"

    def __init__(self, path: Path, synchronous: str) -> None:
        from transitions import Machine

        self.store = CoreStore(path, synchronous)

        class Issue:
            step: itr.Step

        for guard, fn in GUARDS.items():
            setattr(Issue, guard, lambda self, fn=fn: fn(self.step))
        for action in ACTION_OF:
            setattr(Issue, action, lambda self, a=action: _act(self.step, [a]))
        self.model = Issue()
        states = ["received", "dispatched", "handling", "escalated_region", "escalated_hq", "resolved",
                  "callback_pending", "qa_review", "closed", "rejected"]
        self.machine = Machine(model=self.model, states=states, initial="received", auto_transitions=False)
        for tr in _yaml_transitions():
            self.machine.add_transition(tr["event"], tr["from"], tr.get("to", "="),
                                        conditions=[tr["guard"]] if "guard" in tr else None,
                                        after=list(tr.get("actions", [])))

    def fire(self, step: itr.Step) -> str:
        self.model.step = step
        self.machine.set_state(step.state, model=self.model)
        if not self.model.trigger(step.event):
            raise ValueError(f"{step.event} refused in {step.state}")
        return self.model.state


class StatemachinePeer(_Peer):
    """python-statemachine: the life cycle as a StateMachine class; the SQLModel FlowInstance row is the model."""

    name = "statemachine_sqlmodel"

    def __init__(self, path: Path, synchronous: str) -> None:
        self.store = OrmStore(path, synchronous)
        self.machine_class = _itr_machine()

    def send(self, iid: int, event: str, *, actor: str, now_us: int, payload: dict[str, Any] | None = None) -> itr.Step:
        with self.store.tx() as s:
            row = s.get("flow_instance", iid)
            step = itr.Step(s, iid, row.state, row.version, json.loads(row.data), event, actor, now_us, payload or {})
            model = _Model(row.state, step)  # a SQLModel row takes no attributes beyond its columns
            self.machine_class(model).send(event)
            target = model.state
            for column, value in itr.finish(step, target).items():
                setattr(row, column, value)
            step.state = target
            return step


class _Model:
    def __init__(self, state: str, step: itr.Step) -> None:
        self.state = state
        self.step = step


def _itr_machine() -> type:
    from statemachine import State, StateMachine

    def action(name: str) -> Callable[..., None]:
        return lambda model: _act(model.step, [name])

    class ItrIssue(StateMachine):
        received = State(initial=True)
        dispatched = State()
        handling = State()
        escalated_region = State()
        escalated_hq = State()
        resolved = State()
        callback_pending = State()
        qa_review = State()
        closed = State(final=True)
        rejected = State(final=True)

        dispatch = received.to(dispatched, on="itr_dispatch")
        reject = received.to(rejected, on="itr_reject")
        redispatch = dispatched.to(dispatched, on="itr_redispatch") | handling.to(dispatched, on="itr_redispatch")
        accept = dispatched.to(handling, on="itr_accept")
        escalate = (dispatched.to(escalated_region, on="itr_escalate") | handling.to(escalated_region, on="itr_escalate")
                    | escalated_region.to(escalated_hq, on="itr_escalate"))
        resolve = (dispatched.to(resolved, on="itr_resolve") | handling.to(resolved, on="itr_resolve")
                   | escalated_region.to(resolved, on="itr_resolve") | escalated_hq.to(resolved, on="itr_resolve"))
        close = (resolved.to(callback_pending, cond="itr_callback_needed", on="itr_close")
                 | resolved.to(closed, on="itr_close"))
        callback = (callback_pending.to.itself(internal=True, cond="itr_callback_unreached", on="itr_record_callback")
                    | callback_pending.to(closed, cond="itr_callback_score_ok", on="itr_record_callback")
                    | callback_pending.to(qa_review, on="itr_record_callback"))
        qa_close = qa_review.to(closed, on="itr_qa_close")
        qa_reopen = (qa_review.to(handling, cond="itr_level_office", on="itr_qa_reopen")
                     | qa_review.to(escalated_region, cond="itr_level_region", on="itr_qa_reopen")
                     | qa_review.to(escalated_hq, on="itr_qa_reopen"))

        def __init__(self, model: Any) -> None:
            super().__init__(model=model, state_field="state")

        def itr_callback_needed(self) -> bool:
            return itr.callback_needed(self.model.step)

        def itr_callback_unreached(self) -> bool:
            return itr.callback_unreached(self.model.step)

        def itr_callback_score_ok(self) -> bool:
            return itr.callback_score_ok(self.model.step)

        def itr_level_office(self) -> bool:
            return self.model.step.data.get("level") == "office"

        def itr_level_region(self) -> bool:
            return self.model.step.data.get("level") == "region"

    for name in ("itr_dispatch", "itr_reject", "itr_redispatch", "itr_accept", "itr_escalate", "itr_resolve",
                 "itr_close", "itr_record_callback", "itr_qa_close", "itr_qa_reopen"):
        setattr(ItrIssue, name, (lambda n: lambda self: _act(self.model.step, [n]))(name))
    return ItrIssue


class SpiffPeer(_Peer):
    """SpiffWorkflow: flow_instance.data holds the serialised BPMN workflow (token, task data, and the
    issue's data as workflow data); each event loads it, completes the ready user task, serialises it."""

    name = "spiffworkflow"

    def __init__(self, path: Path, synchronous: str) -> None:
        from SpiffWorkflow.bpmn.parser import BpmnParser
        from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer

        self.store = SqliteStore(path, synchronous)
        parser = BpmnParser()
        parser.add_bpmn_file(str(Path(__file__).with_name("itr_issue.bpmn")))
        self.spec = parser.get_spec("itr_issue")
        self.serializer = BpmnWorkflowSerializer()
        self.actions = {(tr["event"]): tr.get("actions", []) for tr in _yaml_transitions()}

    def open(self, **fields: Any) -> int:
        from SpiffWorkflow.bpmn import BpmnWorkflow

        with self.store.tx() as s:
            iid = itr.open_issue(s, **fields)
            state, version, data = self._load(s, iid)
            wf = BpmnWorkflow(self.spec)
            wf.do_engine_steps()
            wf.data["issue"] = json.loads(data)
            s.update("flow_instance", iid, {"data": self.serializer.serialize_json(wf)})
            return iid

    def send(self, iid: int, event: str, *, actor: str, now_us: int, payload: dict[str, Any] | None = None) -> itr.Step:
        from SpiffWorkflow.util.task import TaskState

        with self.store.tx() as s:
            state, version, text = self._load(s, iid)
            wf = self.serializer.deserialize_json(text)
            task = wf.get_next_task(state=TaskState.READY, manual=True)
            if task is None or task.task_spec.name != state:
                raise ValueError(f"#{iid}: the workflow waits in {task and task.task_spec.name}, the row says {state}")
            step = itr.Step(s, iid, state, version, wf.data["issue"], event, actor, now_us, payload or {})
            # The gateways route on what the user sent and on the guards, evaluated here as mcr evaluates them.
            task.data.update(event=event, level=step.data.get("level"))
            if event == "close":
                task.data["callback_needed"] = itr.callback_needed(step)
            elif event == "callback":
                task.data.update(reached=payload.get("reached", True) if payload else True,
                                 score_ok=itr.callback_score_ok(step))
            _act(step, self.actions[event])
            task.run()
            wf.do_engine_steps()
            nxt = wf.get_next_task(state=TaskState.READY, manual=True)
            target = nxt.task_spec.name if nxt is not None else "closed"
            wf.data["issue"] = step.data
            instance = itr.finish(step, target, data_text=self.serializer.serialize_json(wf))
            s.update("flow_instance", iid, instance)
            step.state = target
            return step


PEERS: dict[str, type[_Peer]] = {p.name: p for p in (StatemachinePeer, SpiffPeer, TransitionsPeer, RawPeer)}
