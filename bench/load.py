"""Load benchmark: concurrent clients against the local stack (not a test).

Starts the three services as real processes on loopback (file store in a temp
dir), trains one small CNN-deep model through the trainer, then runs
``--clients`` threads (default 128) for ``--duration`` seconds, each calling in turn
InterpreterService.Attribute with saliency (``--saliency-batch`` sequences),
Attribute with ISM (one sequence), MotifMatchService.Compare (one JASPAR motif
against JASPAR 2016) and TrainerService GetJob and ListDatasets. Meanwhile
``--watchers`` WatchJob streams (default 256; the trainer runs with
MOTIFLENS_MAX_WATCHERS set to that number) follow a long training job,
``--extra-watchers`` more (default 4) try to open beyond the limit, and a prober in
its own process calls each service's health Check every 50 ms.

Prints per call kind: completed calls, throughput, p50/p99 latency, errors by
status code; health Check latency per service idle (before the load, the baseline)
and under load (p50, p99, max, and the p99 ratio to idle); what the extra watchers
got; each server's resident memory over the run (start, middle, end, peak); and the
trainer's thread count before and while the streams are open (WatchJob holds no
handler thread, so it does not grow with them).

Usage: ``python bench/load.py [--clients 128] [--watchers 256] [--duration 30]``
"""

from __future__ import annotations

import argparse
import collections
import multiprocessing
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=128)
    parser.add_argument("--watchers", type=int, default=256, help="WatchJob streams held open")
    parser.add_argument("--extra-watchers", type=int, default=4, help="streams tried beyond --watchers")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of load")
    parser.add_argument("--saliency-batch", type=int, default=8)
    parser.add_argument("--base-port", type=int, default=52051)
    return parser.parse_args()


def thread_count(pid: int) -> int:
    """Threads of a process, from /proc."""
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    return 0


def rss_mib(pid: int) -> tuple[float, float]:
    """(current RSS, peak RSS) of a process in MiB, from /proc."""
    values = {}
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, amount, _ = line.split()
                values[key] = int(amount) / 1024
    return values.get("VmRSS:", 0.0), values.get("VmHWM:", 0.0)


def probe_health(addresses: dict[str, str], duration: float, results) -> None:
    """Every 50 ms for ``duration`` s, call health Check on each server; put (latencies, errors)."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    stubs = {name: health_pb2_grpc.HealthStub(grpc.insecure_channel(a)) for name, a in addresses.items()}
    latencies: dict[str, list[float]] = {name: [] for name in stubs}
    errors: collections.Counter = collections.Counter()
    stop_at = time.monotonic() + duration
    while time.monotonic() < stop_at:
        for name, stub in stubs.items():
            start = time.perf_counter()
            try:
                stub.Check(health_pb2.HealthCheckRequest(), timeout=30)
                latencies[name].append(time.perf_counter() - start)
            except grpc.RpcError as error:
                errors[(name, error.code().name)] += 1
        time.sleep(0.05)
    results.put((latencies, dict(errors)))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> None:
    args = parse_args()
    import grpc
    import numpy as np
    from motiflens_client.wire import pb
    from motiflens_client.wire.pb import interpreter_pb2_grpc, motifmatch_pb2_grpc, trainer_pb2_grpc
    from motiflens_client.wire.tensors import array_to_tensor

    from motiflens.motifs import jaspar_motif
    from services.launcher import start_suite, stop_suite

    with tempfile.TemporaryDirectory(prefix="motiflens-load-") as tmp:
        env = dict(os.environ)
        for name in ("TRAINER", "INTERPRETER", "MOTIFMATCH"):
            env[f"MOTIFLENS_{name}_METRICS_PORT"] = "-1"
        env["MOTIFLENS_LOG_LEVEL"] = "WARNING"
        env["MOTIFLENS_MAX_WATCHERS"] = str(args.watchers)  # so that the extra watchers are refused
        running = start_suite(
            store=Path(tmp, "store").as_uri(), base_port=args.base_port, env=env, timeout=300
        )
        addresses = {service.name: service.address for service in running}
        try:
            trainer = trainer_pb2_grpc.TrainerServiceStub(grpc.insecure_channel(addresses["trainer"]))
            dataset = trainer.CreateDataset(
                pb.CreateDatasetRequest(
                    synthetic=pb.SyntheticSpec(
                        task=pb.SyntheticTask.Value("SYNTHETIC_TASK_1"), num_sequences=1000
                    )
                )
            ).dataset
            job = trainer.Train(
                pb.TrainRequest(
                    dataset_id=dataset.dataset_id,
                    model=pb.ModelSpec(architecture="cnn_deep", activation="exponential"),
                    training=pb.TrainingSpec(epochs=1),
                )
            )
            final = list(trainer.WatchJob(pb.WatchJobRequest(job_id=job.job_id), timeout=600))[-1].final
            model_id = final.model_id
            rng = np.random.default_rng(0)
            sequences = ["".join(rng.choice(list("ACGT"), 200)) for _ in range(args.saliency_batch)]
            target = jaspar_motif("MA0058.3")
            query = pb.MotifList(
                motifs=[
                    pb.Motif(
                        id=target.motif_id,
                        name=target.name,
                        pwm=array_to_tensor(np.asarray(target.pwm, np.float64)),
                        nsites=target.nsites,
                    )
                ]
            )
            calls = {
                "attribute_saliency": pb.AttributeRequest(
                    model_id=model_id,
                    sequences=pb.Sequences(strings=pb.SequenceList(sequences=sequences)),
                    method=pb.AttributionMethod.Value("ATTRIBUTION_METHOD_SALIENCY"),
                ),
                "attribute_ism": pb.AttributeRequest(
                    model_id=model_id,
                    sequences=pb.Sequences(strings=pb.SequenceList(sequences=sequences[:1])),
                    method=pb.AttributionMethod.Value("ATTRIBUTION_METHOD_ISM"),
                ),
                "compare": pb.CompareRequest(motifs=query),
                "get_job": pb.GetJobRequest(job_id=job.job_id),
                "list_datasets": pb.ListDatasetsRequest(),
            }
            interpreter_channel = grpc.insecure_channel(addresses["interpreter"])
            matcher_channel = grpc.insecure_channel(addresses["motifmatch"])
            interpreter = interpreter_pb2_grpc.InterpreterServiceStub(interpreter_channel)
            matcher = motifmatch_pb2_grpc.MotifMatchServiceStub(matcher_channel)

            def invoke(kind: str) -> None:
                if kind == "compare":
                    matcher.Compare(calls[kind], timeout=120)
                elif kind == "get_job":
                    trainer.GetJob(calls[kind], timeout=120)
                elif kind == "list_datasets":
                    trainer.ListDatasets(calls[kind], timeout=120)
                else:
                    list(interpreter.Attribute(calls[kind], timeout=120))

            health = list(addresses)
            idle_results = multiprocessing.get_context("spawn").Queue()
            idle_prober = multiprocessing.get_context("spawn").Process(
                target=probe_health, args=(addresses, 3.0, idle_results)
            )
            idle_prober.start()
            idle, _ = idle_results.get(timeout=120)
            idle_prober.join(timeout=30)
            long_job = trainer.Train(
                pb.TrainRequest(
                    dataset_id=dataset.dataset_id,
                    model=pb.ModelSpec(architecture="cnn_local", activation="relu"),
                    training=pb.TrainingSpec(epochs=1000, patience=-1),
                )
            ).job_id
            trainer_pid = next(s.process.pid for s in running if s.name == "trainer")
            threads_before = thread_count(trainer_pid)
            watch_channel = grpc.insecure_channel(addresses["trainer"])
            watch_stub = trainer_pb2_grpc.TrainerServiceStub(watch_channel)
            watchers = [
                watch_stub.WatchJob(pb.WatchJobRequest(job_id=long_job), timeout=args.duration + 600)
                for _ in range(args.watchers)
            ]
            watch_events = collections.Counter()

            def drain(stream) -> None:
                try:
                    for _ in stream:
                        watch_events["events"] += 1
                except grpc.RpcError as error:
                    watch_events[error.code().name] += 1

            watch_threads = [threading.Thread(target=drain, args=(w,), daemon=True) for w in watchers]
            for thread in watch_threads:
                thread.start()
            time.sleep(2.0)  # let the held streams take their slots
            threads_watching = thread_count(trainer_pid)
            extra: collections.Counter = collections.Counter()
            for _ in range(args.extra_watchers):
                try:
                    next(iter(watch_stub.WatchJob(pb.WatchJobRequest(job_id=long_job), timeout=10)))
                    extra["OK"] += 1
                except grpc.RpcError as error:
                    extra[error.code().name] += 1

            for kind in calls:  # warm-up: load the model, compile graphs, load JASPAR
                invoke(kind)

            latencies: dict[str, list[float]] = collections.defaultdict(list)
            errors: collections.Counter = collections.Counter()
            lock = threading.Lock()
            stop_at = time.monotonic() + args.duration
            kinds = list(calls)

            def client(index: int) -> None:
                turn = index
                while time.monotonic() < stop_at:
                    kind = kinds[turn % len(kinds)]
                    turn += 1
                    start = time.perf_counter()
                    try:
                        invoke(kind)
                        with lock:
                            latencies[kind].append(time.perf_counter() - start)
                    except grpc.RpcError as error:
                        with lock:
                            errors[(kind, error.code().name)] += 1
                        if error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                            time.sleep(0.2)  # a well-behaved client backs off (the SDK does)

            pids = {service.name: service.process.pid for service in running}
            memory: dict[str, list[float]] = {name: [] for name in pids}
            threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(args.clients)]
            # The prober runs in its own process: in this one it would wait for the GIL
            # behind the client threads and measure the benchmark, not the servers.
            context = multiprocessing.get_context("spawn")
            results = context.Queue()
            prober = context.Process(target=probe_health, args=(addresses, args.duration, results))
            started = time.perf_counter()
            prober.start()
            for thread in threads:
                thread.start()
            while any(thread.is_alive() for thread in threads):
                for name, pid in pids.items():
                    memory[name].append(rss_mib(pid)[0])
                time.sleep(1.0)
            elapsed = time.perf_counter() - started
            loaded, probe_errors = results.get(timeout=120)
            prober.join(timeout=30)

            print(f"\n{args.clients} clients for {elapsed:.1f} s against the local stack (model {model_id})")
            print(f"{'call':<20}{'done':>7}{'calls/s':>10}{'p50 s':>9}{'p99 s':>9}")
            for kind in kinds:
                values = latencies[kind]
                if values:
                    print(
                        f"{kind:<20}{len(values):>7}{len(values) / elapsed:>10.1f}"
                        f"{statistics.median(values):>9.2f}{percentile(values, 0.99):>9.2f}"
                    )
            print("errors by status code:", dict(errors) or "none")
            print(
                f"health Check latency, ms (idle baseline p99, then under load with {args.watchers} "
                "WatchJob streams held):"
            )
            for name in health:
                base = percentile(idle[name], 0.99) * 1000
                values = loaded[name] or [float("nan")]
                p99 = percentile(values, 0.99) * 1000
                print(
                    f"  {name:<12} idle p99 {base:6.1f}   load n={len(loaded[name])} p50 "
                    f"{statistics.median(values) * 1000:6.1f} p99 {p99:6.1f} max {max(values) * 1000:6.1f}"
                    f"   p99 ratio load/idle {p99 / base:5.1f}"
                )
            print("health probe errors:", dict(probe_errors) or "none")
            print(f"{args.extra_watchers} WatchJob streams beyond the {args.watchers} held:", dict(extra))
            print("held WatchJob streams:", dict(watch_events))
            print(
                f"trainer threads: {threads_before} before the {args.watchers} streams, "
                f"{threads_watching} with them open"
            )
            trainer.CancelJob(pb.CancelJobRequest(job_id=long_job), timeout=60)
            for thread in watch_threads:
                thread.join(timeout=120)
            watch_channel.close()
            print("server memory, MiB (RSS at start / middle / end of the load; peak since start):")
            for name, samples in memory.items():
                peak = rss_mib(pids[name])[1]
                middle = samples[len(samples) // 2] if samples else 0.0
                first = samples[0] if samples else 0.0
                last = samples[-1] if samples else 0.0
                print(f"  {name:<12}{first:8.0f} {middle:8.0f} {last:8.0f}   peak {peak:.0f}")
            interpreter_channel.close()
            matcher_channel.close()
        finally:
            stop_suite(running)


if __name__ == "__main__":
    main()
