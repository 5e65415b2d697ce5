"""`python -m bench.load`: run the WeChat-like load against real gateway processes.

Example: `uv run python -m bench.load --setup sqlite --rates 50,100,200,400 --duration 20`
(`--setup postgres` = PostgreSQL `loadbench` + Redis DB 7, 2 workers + 1 scheduler process).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bench.load.corpus import ROOT, load_corpus
from bench.load.generator import LoadGenerator
from bench.load.platform import CallbackSender, create_platform_app
from bench.load.stack import (
    Profiler,
    Setup,
    load_average,
    machine_busy_seconds,
    petitions_in_database,
)
from simulator.config import SimulatorConfig

DEFAULT_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
SETUPS = {
    "sqlite": lambda: Setup(
        name="sqlite",
        database_url=f"sqlite+aiosqlite:///{ROOT / 'var' / 'loadbench' / 'loadbench.db'}",
    ),
    "postgres": lambda: Setup(
        name="postgres",
        database_url="postgresql+asyncpg://postgres@127.0.0.1:5432/loadbench",
        redis_url="redis://127.0.0.1:6379/7",
        workers=2,
        separate_scheduler=True,
    ),
}


async def run_benchmark(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Start simulator + gateways, run each rate, return one summary per rate."""
    setup: Setup = SETUPS[args.setup]()
    aes_key = DEFAULT_AES_KEY if args.aes else None
    setup.aes_key = aes_key
    await setup.prepare_database()
    config = SimulatorConfig(
        _env_file=None,
        port=args.simulator_port,
        wechat={"aes_key": aes_key},
        cs_messages_per_window=1000,  # scripted residents read every push
        event_messages_per_window=1000,
    )
    app, state = create_platform_app(config)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", args.simulator_port).start()
    simulator_url = f"http://127.0.0.1:{args.simulator_port}"
    results: list[dict[str, Any]] = []
    connector = aiohttp.TCPConnector(limit=0)
    try:
        await setup.start(simulator_url)
        async with aiohttp.ClientSession(connector=connector) as http:
            sender = CallbackSender(state, config, http)
            corpus = load_corpus()
            for index, rate in enumerate(float(r) for r in args.rates.split(",")):
                if args.fresh and index:  # no backlog from the previous rate
                    setup.stop()
                    await setup.start(simulator_url)
                run_id = f"{int(time.time()) % 100000}r{index}"
                generator = LoadGenerator(
                    sender=sender,
                    state=state,
                    corpus=corpus,
                    targets=[g.url for g in setup.gateways],
                    run_id=run_id,
                    seed=index + 8,
                )
                profiler = Profiler(ROOT / "var" / "loadbench" / "profiles")
                if args.profile_rate and rate == args.profile_rate:
                    profiler.start(setup.gateways, args.duration, f"{setup.name}-{int(rate)}")
                load_before = load_average()
                for process in setup.processes:
                    process.begin_window()
                redis_before = await setup.redis_counters()
                sampler = asyncio.create_task(_sample(setup))
                started = time.monotonic()
                own_before, busy_before = _own_cpu_seconds(), machine_busy_seconds()
                result = await generator.run(rate, args.duration)
                elapsed = time.monotonic() - started
                own_cpu = _own_cpu_seconds() - own_before
                machine_busy = machine_busy_seconds() - busy_before
                sampler.cancel()
                stored = await petitions_in_database(setup.database_url, generator.openid_prefix())
                summary = result.summary()
                summary.update(
                    {
                        "setup": setup.name,
                        "workers": setup.workers,
                        "aes": bool(aes_key),
                        "load_before": load_before,
                        "load_after": load_average(),
                        "petitions_in_db": len(stored),
                        "lost_petitions": len(result.tickets - stored),
                        "processes": [p.window(elapsed) for p in setup.processes],
                        "generator_cpu_core_share": round(own_cpu / elapsed, 2),
                        "machine_busy_cores": round(machine_busy / elapsed, 2),
                    }
                )
                gateway_cpu = sum(
                    p["cpu_seconds"] for p in summary["processes"] if p["role"] != "scheduler"
                )
                sent = max(1, summary["sent"])
                summary["gateway_cpu_ms_per_message"] = round(1000 * gateway_cpu / sent, 1)
                switches = sum(
                    p["context_switches"] for p in summary["processes"] if p["role"] != "scheduler"
                )
                summary["gateway_switches_per_message"] = round(switches / sent, 1)
                redis_after = await setup.redis_counters()
                if redis_before and redis_after:
                    summary["redis_commands_per_message"] = round(
                        (redis_after[0] - redis_before[0]) / sent, 1
                    )
                    summary["redis_requests_per_message"] = round(
                        (redis_after[1] - redis_before[1]) / sent, 1
                    )
                if args.profile_rate and rate == args.profile_rate:
                    summary["profile"] = profiler.finish()
                results.append(summary)
                print(json.dumps(summary, ensure_ascii=False), flush=True)  # noqa: T201
                await asyncio.sleep(args.pause)
    finally:
        setup.stop()
        await runner.cleanup()
    return results


def _own_cpu_seconds() -> float:
    """This process's user + system time: the generator and the simulator's API."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _sample(setup: Setup) -> None:
    while True:
        for process in setup.processes:
            process.sample()
        await asyncio.sleep(0.5)


def main() -> None:
    """Parse arguments, run, write JSON."""
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__)
    parser.add_argument("--setup", choices=sorted(SETUPS), default="sqlite")
    parser.add_argument("--rates", default="50,100,200,400", help="messages per second")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per rate")
    parser.add_argument("--aes", action="store_true", help="safe mode (AES) callbacks")
    parser.add_argument("--simulator-port", type=int, default=18191)
    parser.add_argument("--pause", type=float, default=3.0, help="seconds between rates")
    parser.add_argument("--profile-rate", type=float, default=0.0, help="py-spy this rate")
    parser.add_argument(
        "--fresh", action="store_true", help="restart the gateways before each rate"
    )
    parser.add_argument("--json", type=Path, help="write all summaries to this file")
    args = parser.parse_args()
    results = asyncio.run(run_benchmark(args))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, ensure_ascii=False, indent=1), "utf-8")


if __name__ == "__main__":
    main()
