"""Training jobs as a worker thread or process runs them: messages, weights, shared data."""

from __future__ import annotations

import multiprocessing

import numpy as np
import pytest

from core.data import load_builtin
from core.data.shared import AttachedDataset, SharedDataset
from core.engine.model import Model
from core.errors import LayerwiseError
from core.graph.document import NetworkDocument
from core.graph.fileformat import network_to_dict
from core.session.job import RunOutcome, TrainingJob, TrainingRequest, process_main
from core.training.controls import SetL2
from core.training.events import BatchEnded, TrainingFinished, TrainingStarted
from core.training.trainer import TrainingConfig


def small_network(classes: int = 4) -> NetworkDocument:
    doc = NetworkDocument("tiny")
    x = doc.add_node("Input", {"shape": [1, 12, 12]}, name="input")
    doc.chain(
        x.id,
        [
            ("Conv2D", {"filters": 4, "kernel_size": 3}, "conv"),
            ("ReLU", None, "relu"),
            ("Flatten", None, "flat"),
            ("Dense", {"units": classes}, "fc"),
            ("Softmax", None, "probabilities"),
        ],
    )
    return doc


@pytest.fixture(scope="module")
def data():
    return load_builtin("shapes", input_shape=(1, 12, 12), n_samples=160).split(0.25, 0)


def run_job(request: TrainingRequest, flush_seconds: float = 0.03) -> list[tuple[str, object]]:
    messages: list[tuple[str, object]] = []
    job = TrainingJob(request)
    job.run(messages.append, flush_seconds)
    job.close()
    return messages


def test_a_job_sends_event_lists_then_its_outcome(data):
    train, val = data
    messages = run_job(
        TrainingRequest(network_to_dict(small_network()), train, val, TrainingConfig(epochs=2, batch_size=32))
    )
    kinds = [kind for kind, _ in messages]
    assert kinds[-1] == "outcome" and set(kinds[:-1]) == {"events"}
    events = [event for kind, payload in messages[:-1] for event in payload]
    assert isinstance(events[0], TrainingStarted) and isinstance(events[-1], TrainingFinished)
    assert sum(isinstance(e, BatchEnded) for e in events) == 2 * 4
    outcome = messages[-1][1]
    assert isinstance(outcome, RunOutcome)
    assert outcome.val_predicted.shape == outcome.val_confidence.shape == (len(val),)
    assert np.all((outcome.val_confidence > 0) & (outcome.val_confidence <= 1))
    assert set(outcome.weights) == set(Model(small_network()).state_dict())


def test_batch_events_are_grouped_rather_than_sent_one_by_one(data):
    train, val = data
    config = TrainingConfig(epochs=3, batch_size=8)
    messages = run_job(TrainingRequest(network_to_dict(small_network()), train, val, config), flush_seconds=10.0)
    # With a long flush interval, only non-batch events (start, epoch ends, finish) send.
    assert len(messages) <= 1 + 3 + 1 + 1


def test_predictions_agree_with_the_returned_weights(data):
    train, val = data
    doc = small_network()
    outcome = run_job(TrainingRequest(network_to_dict(doc), train, val, TrainingConfig(epochs=1)))[-1][1]
    model = Model(doc)
    model.load_state_dict(outcome.weights)
    np.testing.assert_array_equal(model.predict(val.x).argmax(axis=1), outcome.val_predicted)


def test_starting_weights_are_used_where_they_fit(data):
    train, val = data
    doc = small_network()
    start = Model(doc, seed=42).state_dict()
    start.pop("fc/weight")  # e.g. a layer added since the last run: starts fresh
    job = TrainingJob(TrainingRequest(network_to_dict(doc), train, val, TrainingConfig(epochs=1, seed=0), start))
    np.testing.assert_array_equal(job.trainer.model.state_dict()["conv/weight"], start["conv/weight"])
    assert job.fresh_keys == ["fc/weight"]
    job.close()


def test_data_that_do_not_fit_are_refused_before_anything_runs(data):
    train, val = data
    with pytest.raises(LayerwiseError, match=r"10 class scores.*4 classes"):
        TrainingJob(TrainingRequest(network_to_dict(small_network(10)), train, val, TrainingConfig()))


def test_only_typed_controls_reach_the_trainer(data):
    train, val = data
    job = TrainingJob(TrainingRequest(network_to_dict(small_network()), train, val, TrainingConfig()))
    with pytest.raises(TypeError, match="not a training control"):
        job.trainer.control(("__init__",))  # type: ignore[arg-type]
    job.trainer.control(SetL2(0.01))
    assert [change.value for change in job.trainer.controls.pending()] == [0.01]
    job.close()


def test_shared_dataset_round_trip(data):
    train, _ = data
    shared = SharedDataset(train)
    try:
        attached = AttachedDataset(shared.handle)
        np.testing.assert_array_equal(attached.dataset.x, train.x)
        np.testing.assert_array_equal(attached.dataset.y, train.y)
        assert not attached.dataset.x.flags.writeable
        attached.close()
    finally:
        shared.close()
        shared.close()  # twice is harmless


def test_a_spawned_process_trains_on_shared_data(data):
    train, val = data
    context = multiprocessing.get_context("spawn")
    shared = [SharedDataset(train), SharedDataset(val)]
    receive, send = context.Pipe(duplex=False)
    controls_in, _controls_out = context.Pipe(duplex=False)
    request = TrainingRequest(
        network_to_dict(small_network()), shared[0].handle, shared[1].handle, TrainingConfig(epochs=1)
    )
    process = context.Process(target=process_main, args=(request, send, controls_in), daemon=True)
    try:
        process.start()
        send.close()
        messages = []
        while receive.poll(60):
            try:
                messages.append(receive.recv())
            except EOFError:
                break
        process.join(10)
    finally:
        for block in shared:
            block.close()
    assert process.exitcode == 0
    assert messages[-1][0] == "outcome"
    assert messages[-1][1].finished.reason == "completed"


def test_a_process_reports_a_request_it_cannot_run(data):
    train, val = data
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    controls_in, _controls_out = context.Pipe(duplex=False)
    request = TrainingRequest(network_to_dict(small_network(10)), train, val, TrainingConfig())
    process = context.Process(target=process_main, args=(request, send, controls_in), daemon=True)
    process.start()
    send.close()
    kind, message = receive.recv()
    process.join(10)
    assert kind == "error" and "4 classes" in message
