"""The daemon: wires source → pipeline → sinks; owns signals, start-up and shutdown.

Delivery — fetching, ordered commits, dead-lettering, pausing — is :mod:`socd.delivery`,
whose docstring states what it guarantees; the source's rebalance listener calls its drain
before partitions go. SIGTERM/SIGINT: stop fetching, finish, commit, exit 0. SIGHUP: reload
the rules; a broken set is rejected with a log line and the running one kept. Alongside,
the consumer lag is measured every ``LAG_INTERVAL_S`` (``socd_consumer_lag``).

Shutdown fits the systemd unit's ``TimeoutStopSec=60`` (deploy/systemd/socd.service): every
wait between SIGTERM and exit is bounded, in this order (:data:`SHUTDOWN_BUDGET`)::

    phase                                                        bound (s)
    start-up or fetch loop ends by itself (STOP_FETCH_S)              2
    batches in flight durable, offsets committed (DRAIN_TIMEOUT_S)    30
    lag measure, rule watch, unfinished deliveries cancelled           1
    Kafka consumer leaves its group       (CONSUMER_STOP_S)           10
    dead-letter producer flushed, stopped (DEAD_LETTER_STOP_S)         5
    sharing producer flushed, stopped     (SHARING_STOP_S)             2
    Elasticsearch client closed           (ELASTICSEARCH_STOP_S)       2
    /metrics endpoint closed              (METRICS_STOP_S)             1
    worst case                            (SHUTDOWN_WORST_CASE_S)     53   < 60

At the start of shutdown socd sends systemd ``STOPPING=1``, and before each phase
``EXTEND_TIMEOUT_USEC=<that phase's bound>`` (sd_notify(3), systemd ≥ 236: a stop that runs
past ``TimeoutStopSec`` is not killed while such messages keep coming in time).

Under systemd (:mod:`socd.telemetry.systemd`): ``READY=1`` once the rules are loaded and
Elasticsearch and Kafka have answered (while Elasticsearch cannot be reached at start-up,
``STATUS=`` says so and ``EXTEND_TIMEOUT_USEC`` keeps the start from timing out); then
``STATUS=`` every few seconds and, with ``WatchdogSec=``, ``WATCHDOG=1`` at half of it from
the event loop while the fetch loop is not stuck for more than ``PROGRESS_TIMEOUT_S``
(:meth:`socd.delivery.Delivery.stuck_for`): a blocked loop or a stuck pipeline stops the pings,
and systemd restarts socd. ``RELOADING=1`` … ``READY=1`` around each rule reload.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import TypeVar

from socd.check import InputSource, rule_warnings, rules_loaded, startup_warnings
from socd.classify import RuleSet
from socd.classify.watch import watch_rules
from socd.config import Config
from socd.delivery import Delivery, Limits
from socd.errors import Problem, RuleError, SinkError, SocdError
from socd.pipeline import Pipeline
from socd.sharing.publish import SightingPublisher
from socd.sinks.dead_letter import DeadLetterSink
from socd.sinks.elasticsearch import ElasticsearchSink
from socd.sinks.elasticsearch.retry import Backoff
from socd.source.kafka import KafkaSource
from socd.state.settle import Settler
from socd.state.windows import WindowStore
from socd.telemetry import systemd
from socd.telemetry.logging import get_logger
from socd.telemetry.metrics import Metrics, MetricsServer, metrics_options

log = get_logger("socd.app")

LAG_INTERVAL_S = 5.0
"""How often the consumer lag (``socd_consumer_lag``) is measured, busy or idle."""
DRAIN_TIMEOUT_S = 30.0
"""On shutdown, how long batches in flight may take to become durable and be committed.
What is not committed by then is read again by the next start (ids make that harmless)."""
STOP_FETCH_S = 2.0
"""On shutdown, how long the fetch loop may take to hand over its last batch (a commit in
progress finishing), or a start-up still under way may take to end; past it the loop or the
start-up is cancelled, and what the loop held is read again."""
BACKGROUND_STOP_S = 1.0
"""How long the cancelled background tasks and unfinished deliveries may take to end."""
CONSUMER_STOP_S = 10.0
"""How long the Kafka consumer may take to leave its group."""
DEAD_LETTER_STOP_S = 5.0
"""How long the dead-letter producer may take to flush and stop (after the drain it holds
nothing to send, unless the drain timed out: those batches are read again anyway)."""
SHARING_STOP_S = 2.0
"""How long the producer of ``sharing.topic`` may take to flush and stop (after the drain it
holds nothing unacknowledged, unless the drain timed out: those batches are read again)."""
ELASTICSEARCH_STOP_S = 2.0
"""How long the Elasticsearch client may take to close its connections."""
METRICS_STOP_S = 1.0
"""How long the /metrics endpoint may take to close (prometheus-client polls every 0.5 s)."""
SHUTDOWN_BUDGET: tuple[tuple[str, float], ...] = (
    ("stop_fetching", STOP_FETCH_S), ("drain", DRAIN_TIMEOUT_S),
    ("background", BACKGROUND_STOP_S), ("consumer", CONSUMER_STOP_S),
    ("dead_letter_producer", DEAD_LETTER_STOP_S), ("sharing_producer", SHARING_STOP_S),
    ("elasticsearch", ELASTICSEARCH_STOP_S),
    ("metrics", METRICS_STOP_S))
"""Every wait between SIGTERM and exit, in order: (phase, bound in seconds)."""
SHUTDOWN_WORST_CASE_S = sum(seconds for _, seconds in SHUTDOWN_BUDGET)
"""The longest a shutdown can take (53 s); kept below the unit's ``TimeoutStopSec`` (60 s)."""
START_MARGIN_S = 30.0
"""Added to the next Elasticsearch try's wait and timeout in the start-up's
``EXTEND_TIMEOUT_USEC`` while Elasticsearch cannot be reached."""
PROGRESS_TIMEOUT_S = 60.0
"""How long the fetch loop may go without turning, outside its waits by design on Kafka and
Elasticsearch (:meth:`socd.delivery.Delivery.stuck_for`), before the systemd watchdog pings
stop: far above the work of one turn (processing one fetch takes well under a second)."""

_T = TypeVar("_T")


def load_rules(config: Config) -> RuleSet:
    """The configured rules; RuleError with every problem, or when no rule loads at all
    (start-up, and a reload that would leave socd without rules, stop there)."""
    rules, _ = RuleSet.load(config.rules.paths, strict=True,
                            placeholders=config.rules.placeholders,
                            pipelines=config.pipelines)
    if not rules_loaded(rules):
        raise RuleError([config.problem(("rules", "paths"), (
            f"no rule loaded from {', '.join(str(p) for p in config.rules.paths)}: without "
            "rules no event can become a threat; put Sigma rule files (.yml, .yaml) there or "
            "correct rules.paths"))])
    return rules


def _log_warnings(warnings: list[Problem]) -> None:
    for warning in warnings:
        log.warning("config_warning", file=warning.file, line=warning.line, key=warning.key,
                    message=warning.message)


class Daemon:
    def __init__(self, config: Config, metrics: Metrics | None = None,
                 rules: RuleSet | None = None) -> None:
        """``rules``: the rules already loaded from ``config`` (by ``socd check``), else
        they are loaded at start."""
        self.config = config
        self._rules = rules
        self.metrics = metrics or Metrics()
        self._stopping = asyncio.Event()
        self._stopping_told = False
        self._delivery: Delivery | None = None
        self._pipeline: Pipeline | None = None
        self._source: KafkaSource | None = None
        self._es: ElasticsearchSink | None = None
        self._dead: DeadLetterSink | None = None
        self._sharing: SightingPublisher | None = None
        self._metrics_server: MetricsServer | None = None
        self._fatal: BaseException | None = None
        self._reload_lock = asyncio.Lock()
        self._background: set[asyncio.Task[None]] = set()
        self._supervision: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ lifecycle

    async def run(self) -> int:
        """Start everything, consume until asked to stop, drain, commit. Exit status: 0;
        1 after a fatal error; 2 for a refusal that only a change of configuration mends
        (Elasticsearch refused the credentials, Kafka the sharing producer)."""
        started = time.monotonic()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop, sig.name)
        loop.add_signal_handler(signal.SIGHUP, self.reload_rules)
        try:
            if not await self._start_unless_stopped():
                return 0
            rules = self.pipeline.rules
            log.info("started", seconds=round(time.monotonic() - started, 3),
                     inputs=[i.label for i in self.config.inputs],
                     rules_loaded=rules_loaded(rules), correlations=len(rules.correlations))
            systemd.ready("running: consuming")
            self.metrics.ready.set(1)
            self._supervise()
            await self._consume_until_stopped()
        except SocdError as exc:
            log.error("fatal", error=str(exc), error_type=type(exc).__name__)
            self._fatal = exc
        finally:
            self._begin_stopping()
            await self._shutdown()
            if self._supervision is not None:  # the last: pings go on while shutting down
                self._supervision.cancel()
                await asyncio.wait({self._supervision})
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(sig)
        if isinstance(self._fatal, SinkError) and not self._fatal.retriable:
            return 2  # a configuration error: systemd's RestartPreventExitStatus=2 holds
        return 1 if self._fatal else 0

    def request_stop(self, why: str = "request") -> None:
        if not self._stopping.is_set():
            log.info("stopping", reason=why)
            self._stopping.set()
            self._begin_stopping()

    def _begin_stopping(self) -> None:
        """Once: not ready any more, and systemd told ``STOPPING=1``."""
        if not self._stopping_told:
            self._stopping_told = True
            self.metrics.ready.set(0)
            systemd.stopping()

    def _supervise(self) -> None:
        """Start the systemd supervision task (STATUS=, WATCHDOG=1): see the module's doc."""
        if not os.environ.get("NOTIFY_SOCKET"):
            return
        try:
            usec = systemd.watchdog_usec()
        except ValueError as exc:
            log.error("watchdog_invalid", error=str(exc),
                      note="no WATCHDOG=1 is sent: systemd's watchdog, if any, will fire")
            usec = None
        watchdog_s = None if usec is None else usec / 1_000_000
        status = systemd.PipelineStatus(self.metrics)

        def describe() -> str:
            return "stopping: finishing the batches in flight" if self._stopping.is_set() \
                else status()

        supervisor = systemd.Supervisor(describe, self._stuck, watchdog_s=watchdog_s)
        self._supervision = asyncio.get_running_loop().create_task(supervisor.run())
        if watchdog_s is not None:
            log.info("watchdog_enabled", watchdog_seconds=watchdog_s,
                     ping_seconds=supervisor.ping_every_s, progress_timeout=PROGRESS_TIMEOUT_S)

    def _stuck(self) -> str | None:
        """Why the watchdog must not be pinged, or None. Shutdown is never stuck: each of
        its waits is bounded (SHUTDOWN_BUDGET) and told to systemd."""
        if self._delivery is None or self._stopping.is_set():
            return None
        stuck = self._delivery.stuck_for(time.monotonic())
        if stuck > PROGRESS_TIMEOUT_S:
            return (f"the fetch loop has not turned for {stuck:.0f} s, nor been waiting for "
                    "Kafka or Elasticsearch")
        return None

    async def _start_unless_stopped(self) -> bool:
        """Start; False when a stop request came first. Nothing has been fetched before the
        start completes, so a stop may cut it short (a broker that accepts the connection
        and does not answer holds the consumer's start for ``request_timeout_ms``)."""
        started = await self._until_stopped(self._start(), "start_up_cancelled")
        return started and not self._stopping.is_set()

    async def _consume_until_stopped(self) -> None:
        """Consume until asked to stop; the fetch loop then hands over its last batch, or is
        cancelled (what it held is read again)."""
        await self._until_stopped(self._consume(), "fetch_loop_cancelled")

    async def _until_stopped(self, work: Coroutine[object, object, None],
                             cancelled: str) -> bool:
        """Run ``work`` until it ends or a stop is requested; then give it STOP_FETCH_S to end
        by itself, and cancel it past that (logged as ``cancelled``; its end is awaited,
        bounded, with the background tasks). True when it ended by itself; raises its
        SocdError."""
        task = asyncio.create_task(work)
        stop = asyncio.create_task(self._stopping.wait())
        try:
            await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
            if not task.done():
                _extend_stop(STOP_FETCH_S)
                await asyncio.wait({task}, timeout=STOP_FETCH_S)
            if not task.done():
                log.warning(cancelled, seconds=STOP_FETCH_S)
                task.cancel()
                self._background.add(task)
                return False
        finally:
            stop.cancel()
        if task.cancelled():
            return False
        task.result()  # its SocdError, if any
        return True

    @property
    def pipeline(self) -> Pipeline:
        assert self._pipeline is not None
        return self._pipeline

    def _prepare(self) -> None:
        """Before any server: the rules and connectors in place, ``socd_rules_loaded`` set,
        the start-up warnings logged (see :func:`socd.check.startup_warnings`)."""
        cfg = self.config
        rules = self._rules if self._rules is not None else load_rules(cfg)
        self._rules = None  # a reload replaces them: keep no second reference
        self._pipeline = Pipeline(cfg, rules, defer=True)  # correlations: socd.state
        self._declare_series()
        self.metrics.rules_loaded.set(rules_loaded(rules))
        log.info("rules_loaded", rules_loaded=rules_loaded(rules),
                 correlations=len(rules.correlations))
        _log_warnings(startup_warnings(cfg, rules, self._sources()))

    async def _start(self) -> None:
        cfg = self.config
        self._prepare()
        if cfg.rules.watch:
            watch = asyncio.get_running_loop().create_task(
                watch_rules(cfg.rules.paths, self.reload_rules))
            self._background.add(watch)
        if cfg.metrics.listen:
            try:
                self._metrics_server = self.metrics.serve(cfg.metrics.listen,
                                                          **metrics_options(cfg.metrics))
            except OSError as exc:
                raise SocdError(f"metrics.listen {cfg.metrics.listen}: cannot listen there "
                                f"({exc.strerror or exc}): choose a free address, or \"\" to "
                                "turn the endpoint off") from exc
            log.info("metrics_listening", address=cfg.metrics.listen,
                     tls=cfg.metrics.certfile is not None,
                     basic_auth=cfg.metrics.username is not None)
        self._es = ElasticsearchSink(cfg.elasticsearch, self.metrics)
        await self._es.start()
        self._dead = DeadLetterSink(cfg.kafka, cfg.dead_letter.topic)
        if cfg.sharing_active:
            self._sharing = SightingPublisher(cfg, self.metrics)
        self._source = KafkaSource(cfg.kafka, [i.topic for i in cfg.inputs], self._drain,
                                   on_revoked=self.metrics.forget_partitions)
        settler = self._settler(self._es)
        self._delivery = Delivery(settler.watching(self._source), self._es, self._dead,
                                  self.pipeline, self.metrics, Limits.of(cfg), self._stopping,
                                  sharing=self._sharing, settle=settler)
        # In parallel: the consumer's group join (seconds on a new group) overlaps the
        # template check. Nothing is fetched before all of them are done. A join waits for
        # the broker to give up on a member that died (up to its session): said, and
        # systemd's start timeout pushed past it.
        session_s = cfg.kafka.session_timeout_ms / 1000
        log.info("joining_group", group_id=cfg.kafka.group_id, note=(
            "the broker assigns the partitions once the group is settled: up to "
            f"kafka.session_timeout_ms ({session_s:g} s) after a member died"))
        systemd.notify(("STATUS", f"starting: joining the Kafka consumer group "
                                  f"{cfg.kafka.group_id}"),
                       ("EXTEND_TIMEOUT_USEC", str(round(
                           (2 * session_s + START_MARGIN_S) * 1_000_000))))
        try:
            async with asyncio.TaskGroup() as group:
                template = group.create_task(self._ensure_template(self._es))
                group.create_task(self._dead.start())
                if self._sharing is not None:
                    group.create_task(self._sharing.start())
                group.create_task(self._source.start())
        except* SocdError as failed:
            raise failed.exceptions[0] from None
        lag = asyncio.get_running_loop().create_task(self._measure_lag(self._source))
        self._background.add(lag)
        if not template.result():
            return

    def _settler(self, es: ElasticsearchSink) -> Settler:
        """The correlation windows in Elasticsearch (:mod:`socd.state.windows`), and their
        expiry sweep in the background."""
        windows = WindowStore(lambda: es.client, self.config.elasticsearch.index_prefix,
                              Backoff(self.config.elasticsearch.retry_backoff_max))
        sweep = asyncio.get_running_loop().create_task(windows.sweep_forever())
        self._background.add(sweep)
        return Settler(self.pipeline, windows)

    def _declare_series(self) -> None:
        """Every events and threats series the inputs can produce under the rules in force,
        at 0 (again after a reload: a rule may now move threats to another layer)."""
        for runtime in self.pipeline.inputs:
            layers = self.pipeline.threat_layers(runtime)
            self.metrics.declare_input(runtime.cfg.label, runtime.cfg.sensor, layers)
            if self.config.sharing_active:
                self.metrics.declare_shared(layers)

    async def _measure_lag(self, source: KafkaSource) -> None:
        """Measure the consumer lag every LAG_INTERVAL_S until cancelled (at shutdown)."""
        while True:
            try:
                lags, owned = await source.lag()
            except Exception:  # telemetry must never stop the daemon; said, and tried again
                log.exception("consumer_lag_failed")
            else:
                self.metrics.report_lag(lags, owned)
            await asyncio.sleep(LAG_INTERVAL_S)

    def _sources(self) -> list[InputSource]:
        """Each input's position, settings and logsource (for the start-up warnings)."""
        by_topic = {runtime.cfg.topic: runtime for runtime in self.pipeline.inputs}
        return [(index, item, by_topic[item.topic].logsource)
                for index, item in enumerate(self.config.inputs)]

    async def _ensure_template(self, es: ElasticsearchSink) -> bool:
        """Check the cluster (health, credentials), then install the index template if it is
        missing. While Elasticsearch cannot be reached, log it with the hosts and try again
        after the sink's backoff, for as long as it takes. Credentials or privileges refused
        (401/403, a SinkError that is not ``retriable``) stop start-up: retrying cannot fix
        them, and the error names the settings to correct.

        False when asked to stop meanwhile.
        """
        attempt = 0
        while True:
            try:
                health = await es.check_health()
                if not await es.template_installed():
                    for line in await es.setup():
                        log.info("setup", action=line)
                if health == "red":
                    log.warning("elasticsearch_health_red", hosts=es.hosts, note=(
                        "primary shards unassigned: writes to those indices fail, and are "
                        "retried until the cluster recovers"))
                if attempt:
                    log.info("elasticsearch_available", hosts=es.hosts, attempts=attempt + 1)
                return True
            except SinkError as exc:
                if not exc.retriable:
                    raise
                attempt += 1
                delay = es.retry_delay(attempt)
                log.warning("elasticsearch_unavailable", hosts=es.hosts, attempt=attempt,
                            error=str(exc), retry_in=round(delay, 2), note=(
                                "socd waits for it and tries again; nothing is fetched from "
                                "Kafka meanwhile. Check elasticsearch.hosts and that the "
                                "cluster is running"))
                # Waiting is by design: systemd's start timeout is pushed past the next try.
                systemd.notify(("STATUS", f"starting: waiting for Elasticsearch (attempt "
                                          f"{attempt})"),
                               ("EXTEND_TIMEOUT_USEC", str(round(
                                   (delay + self.config.elasticsearch.request_timeout
                                    + START_MARGIN_S) * 1_000_000))))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), timeout=delay)
                if self._stopping.is_set():
                    return False

    async def _shutdown(self) -> None:
        """Drain, then close everything; each wait bounded (see :data:`SHUTDOWN_BUDGET`)."""
        try:
            if self._fatal is None:
                _extend_stop(DRAIN_TIMEOUT_S)
                async with asyncio.timeout(DRAIN_TIMEOUT_S):
                    await self._drain()
        except SocdError as exc:
            log.error("drain_failed", error=str(exc))
            self._fatal = exc
        except TimeoutError:
            log.error("drain_timeout", seconds=DRAIN_TIMEOUT_S,
                      batches_not_committed=len(self._unfinished()),
                      note="they will be read again at the next start")
            self._fatal = SocdError("shutdown could not commit every batch in time")
        finally:
            ending = self._unfinished() + list(self._background)
            for task in ending:
                task.cancel()
            if ending:  # wait, not gather: a gather cut off would wait for them all the same
                await _bounded("background", BACKGROUND_STOP_S, asyncio.wait(ending))
            if self._source is not None:
                await _bounded("consumer", CONSUMER_STOP_S,
                               self._source.stop(timeout_s=CONSUMER_STOP_S))
            if self._dead is not None:
                await _bounded("dead_letter_producer", DEAD_LETTER_STOP_S, self._dead.stop())
            if self._sharing is not None:
                await _bounded("sharing_producer", SHARING_STOP_S, self._sharing.stop())
            if self._es is not None:
                await _bounded("elasticsearch", ELASTICSEARCH_STOP_S, self._es.stop())
            if self._metrics_server is not None:
                await _bounded("metrics", METRICS_STOP_S,
                               _in_daemon_thread(self._metrics_server.close))
            if self._fatal is None:
                log.info("stopped", status="ok")
            else:  # exit status 1; what was not committed is read again at the next start
                log.error("stopped", status="error", error=str(self._fatal))

    async def _consume(self) -> None:
        """The fetch loop (:meth:`socd.delivery.Delivery.run`) until asked to stop."""
        assert self._delivery is not None
        await self._delivery.run()

    async def _drain(self) -> None:
        """Finish every batch in flight and commit (shutdown and partition revocation)."""
        if self._delivery is not None:
            await self._delivery.drain()

    def _unfinished(self) -> list[asyncio.Task[None]]:
        return self._delivery.in_flight if self._delivery is not None else []

    # ------------------------------------------------------------------ reload

    def reload_rules(self) -> None:
        """SIGHUP or a changed rule file: load the rules again, off the event loop."""
        if self._pipeline is None:
            log.warning("rules_reload_ignored", reason="still starting")
            return
        task = asyncio.get_running_loop().create_task(self._reload())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _reload(self) -> None:
        # One reload at a time, in the order asked; systemd told RELOADING=1 … READY=1.
        async with self._reload_lock, self._told_reloading():
            try:
                # A large rule set takes seconds to compile: not on the event loop, which
                # must keep serving heartbeats and deliveries meanwhile.
                # A daemon thread: a compile still running at shutdown never holds the exit.
                config = self.config
                rules = await _in_daemon_thread(lambda: load_rules(config))
            except RuleError as exc:
                self.metrics.rule_reload_failures.inc()
                log.error("rules_reload_rejected", problems=[str(p) for p in exc.problems],
                          rules_kept=rules_loaded(self.pipeline.rules))
                return
            kept = rules.keep_state(self.pipeline.rules)  # correlation windows go on
            self.pipeline.use_rules(rules)
            self._declare_series()
            self.metrics.rules_loaded.set(rules_loaded(rules))
            log.info("rules_reloaded", rules_loaded=rules_loaded(rules),
                     correlations=len(rules.correlations), correlations_kept=kept)
            _log_warnings(rule_warnings(self.config, rules, self._sources(),
                                       sharing=self.config.sharing_active))

    @contextlib.asynccontextmanager
    async def _told_reloading(self) -> AsyncIterator[None]:
        """``RELOADING=1`` now, ``READY=1`` (with the rules in force) at the end, whatever
        the reload's outcome: a rejected set leaves the running one in force."""
        systemd.reloading()
        try:
            yield
        finally:
            systemd.ready(f"running: {rules_loaded(self.pipeline.rules)} rules in force")


async def _bounded(phase: str, seconds: float, wait: Awaitable[object]) -> None:
    """One shutdown phase: systemd told it may take ``seconds``, and cut off there (logged).
    Its errors are logged, never raised: the next phase must still run."""
    _extend_stop(seconds)
    try:
        async with asyncio.timeout(seconds):
            await wait
    except TimeoutError:
        log.warning("shutdown_phase_timeout", phase=phase, seconds=seconds)
    except Exception as exc:
        log.warning("shutdown_phase_failed", phase=phase, error=str(exc),
                    error_type=type(exc).__name__)


async def _in_daemon_thread(call: Callable[[], _T]) -> _T:
    """``call()`` in a daemon thread. Unlike :func:`asyncio.to_thread`, whose executor
    ``asyncio.run`` joins at exit without a bound, a thread still running when socd exits
    does not delay the exit. Raises what ``call`` raises."""
    loop = asyncio.get_running_loop()
    result: asyncio.Future[_T] = loop.create_future()

    def settle(value: _T | None, error: Exception | None) -> None:
        if result.done():  # the awaiting side gave up (timeout, cancel)
            return
        if error is not None:
            result.set_exception(error)
        else:
            result.set_result(value)  # type: ignore[arg-type]

    def target() -> None:
        try:
            value = call()
        except Exception as exc:
            outcome: tuple[_T | None, Exception | None] = (None, exc)
        else:
            outcome = (value, None)
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits
            loop.call_soon_threadsafe(settle, *outcome)

    threading.Thread(target=target, name="socd-worker", daemon=True).start()
    return await result


def _extend_stop(seconds: float) -> None:
    """Tell systemd the stop may take ``seconds`` more (``EXTEND_TIMEOUT_USEC``, µs)."""
    systemd.extend_timeout(seconds)


def _sd_notify(state: str) -> None:
    """Tell systemd (Type=notify) one ``NAME=value``; a no-op outside systemd."""
    name, _, value = state.partition("=")
    systemd.notify((name, value))
