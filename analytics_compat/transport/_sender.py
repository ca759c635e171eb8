"""The sender: encode a batch, cut it into requests, and see every message to an outcome.

Owns what the batcher hands over after it picked a batch: each message encoded by
the protocol strategy (a message that cannot be encoded, or is larger than
``max_event_bytes``, fails alone with ``EncodingError``); requests cut at
``max_batch_bytes``; and the attempt loop: retry what the protocol judged
retryable (all of a v0 request; only the events a per-event protocol names) with
backoff and ``Retry-After``, within ``max_retries`` and the ``Deadline``; split a
request the server found too large into halves until one event fails alone.

``send`` reports each group of settled messages to ``report(messages, outcomes)``
as soon as it is known, and never raises for a delivery problem. Knows nothing
about queues, triggers, listeners or the legacy API.
"""

from __future__ import annotations

import logging
from typing import Callable, List, Mapping, Optional, Protocol, Sequence, Tuple, Union

from .._config import DeliveryConfig
from .._events import Message, assign_uuids
from ..errors import (
    DeliveryError,
    EncodingError,
    RetriesExhaustedError,
    ShutdownTimeoutError,
    TransportError,
)
from ._http import HttpClient, Reply
from ._outcome import DELIVERED, Deadline, Outcome, Verdict

__all__ = ["Judgement", "Report", "Request", "Strategy", "Transport"]

logger = logging.getLogger("analytics_compat.transport")

Report = Callable[[List[Message], List[Outcome]], None]


Judgement = Union[Outcome, List[Outcome]]  # one for the whole request, or one per event


class Request(Protocol):
    """One request as the protocol sees it, across all its attempts."""

    def attempt(self, pending: Sequence[int], attempt: int) -> Tuple[bytes, Mapping[str, str]]:
        """The uncompressed body and the headers for attempt ``attempt`` (1, 2, ...) of
        the events at ``pending`` (indices into the request's events)."""
        ...

    def judge(self, reply: Union[Reply, TransportError], pending: Sequence[int]) -> Judgement:
        """What the answer means for each pending event."""
        ...


class Strategy(Protocol):
    """A capture protocol: what goes on the wire and what an answer means."""

    name: str
    path: str
    reads_body: bool  # does ``judge`` need the body of a 2xx answer?

    def encode(self, message: Message) -> bytes:
        """The event's bytes, built once per message (kept in ``message.encoded``)."""
        ...

    def request(self, messages: Sequence[Message], events: Sequence[bytes]) -> Request: ...


class Transport:
    """Delivers batches for one client with one protocol strategy over one HttpClient."""

    def __init__(self, config: DeliveryConfig, protocol: Strategy, http: HttpClient) -> None:
        self._protocol = protocol
        self._http = http
        self._max_retries = config.max_retries
        self._max_event_bytes = config.max_event_bytes
        self._max_batch_bytes = config.max_batch_bytes

    def __repr__(self) -> str:
        return f"<Transport {self._protocol.name} {self._http!r}>"

    @property
    def url(self) -> str:
        """Where events go (for error text): the host option and the protocol's path."""
        return self._http.origin + self._protocol.path

    @property
    def requests_sent(self) -> int:
        return self._http.requests_sent

    def close(self) -> None:
        self._http.close()

    def after_fork(self) -> None:
        self._http.after_fork()

    def send(self, messages: List[Message], report: Report, deadline: Deadline) -> None:
        """Deliver ``messages``; every one of them reaches ``report`` exactly once."""
        assign_uuids(messages)
        if len({m._uuid for m in messages}) < len(messages):
            # The caller gave two messages one uuid (a resend): never in one request, which
            # a v1 server refuses whole (duplicate_event_uuid) and a v0 one stores once.
            first, again = _first_of_each_uuid(messages)
            self.send(first, report, deadline)
            self.send(again, report, deadline)
            return
        encode = self._protocol.encode
        try:  # the common case, at list speed: every event encodes and all fit in one request
            encoded = [encode(message) for message in messages]
        except (TypeError, ValueError):
            return self._send_each(messages, report, deadline)
        sizes = list(map(len, encoded))
        if sizes and (
            max(sizes) > self._max_event_bytes or sum(sizes) + len(sizes) > self._max_batch_bytes
        ):
            return self._send_each(messages, report, deadline)
        if encoded:
            report(messages, self._deliver(messages, encoded, deadline))

    def _send_each(self, messages: List[Message], report: Report, deadline: Deadline) -> None:
        """Event by event: the ones that cannot be encoded or are too big fail alone, and
        requests are cut at ``max_batch_bytes`` (encodings already made are reused)."""
        chunk: List[Message] = []
        encoded: List[bytes] = []
        size = 0
        failed: List[Message] = []
        errors: List[Outcome] = []
        encode, cap = self._protocol.encode, self._max_event_bytes
        for message in messages:
            try:
                data = encode(message)
            except (TypeError, ValueError) as exc:
                failed.append(message)
                errors.append(
                    Outcome.failed(EncodingError(f"the event could not be encoded: {exc}"))
                )
                continue
            if len(data) > cap:
                failed.append(message)
                errors.append(
                    Outcome.failed(
                        EncodingError(f"the event is {len(data)} bytes; the cap is {cap}")
                    )
                )
                continue
            if chunk and size + len(data) > self._max_batch_bytes:
                report(chunk, self._deliver(chunk, encoded, deadline))
                chunk, encoded, size = [], [], 0
            chunk.append(message)
            encoded.append(data)
            size += len(data) + 1
        if failed:
            report(failed, errors)
        if chunk:
            report(chunk, self._deliver(chunk, encoded, deadline))

    def _deliver(
        self, messages: List[Message], events: List[bytes], deadline: Deadline
    ) -> List[Outcome]:
        """The final outcome of each event: delivered or failed (with its reason)."""
        final: List[Outcome] = [DELIVERED] * len(events)
        pending = list(range(len(events)))
        protocol, http = self._protocol, self._http
        request = protocol.request(messages, events)
        attempt = 0
        while True:
            attempt += 1
            raw, headers = request.attempt(pending, attempt)
            reply = http.post(
                protocol.path, http.compress(raw), headers, deadline, read_body=protocol.reads_body
            )
            judged = request.judge(reply, pending)
            if isinstance(judged, Outcome):
                verdict = judged.verdict
                if verdict is Verdict.DELIVERED or verdict is Verdict.FAILED:
                    for index in pending:  # one answer for the whole request (v0)
                        final[index] = judged
                    return final
                judged = [judged] * len(pending)
            retry: List[int] = []
            too_large: List[int] = []
            last: Optional[Outcome] = None
            for index, outcome in zip(pending, judged):
                verdict = outcome.verdict
                if verdict is Verdict.RETRY:
                    retry.append(index)
                    last = outcome
                elif verdict is Verdict.TOO_LARGE:
                    too_large.append(index)
                else:
                    final[index] = outcome
            if too_large:
                error = judged[pending.index(too_large[0])]
                self._split(messages, events, too_large, error, final, deadline)
            if not retry:
                return final
            assert last is not None and last.error is not None
            if deadline.passed():
                return self._give_up(final, retry, _cut_short(last.error))
            if attempt > self._max_retries:
                return self._give_up(final, retry, RetriesExhaustedError(attempt, last.error))
            delay = http.delay(attempt, last.retry_after)
            logger.debug("attempt %d failed (%s); retrying in %.2fs", attempt, last.error, delay)
            if not deadline.sleep(delay):
                return self._give_up(final, retry, _cut_short(last.error))
            pending = retry

    def _split(
        self,
        messages: List[Message],
        events: List[bytes],
        indices: List[int],
        outcome: Outcome,
        final: List[Outcome],
        deadline: Deadline,
    ) -> None:
        """413: resend the events in halves; a single event that is too large fails."""
        assert outcome.error is not None
        if len(indices) == 1:
            final[indices[0]] = Outcome.failed(outcome.error)
            return
        half = len(indices) // 2
        for part in (indices[:half], indices[half:]):
            if deadline.passed():  # no new request once shutdown's deadline has come
                self._give_up(final, part, _cut_short(outcome.error))
                continue
            results = self._deliver(
                [messages[i] for i in part], [events[i] for i in part], deadline
            )
            for index, result in zip(part, results):
                final[index] = result

    @staticmethod
    def _give_up(final: List[Outcome], indices: List[int], error: DeliveryError) -> List[Outcome]:
        gave_up = Outcome.failed(error)
        for index in indices:
            final[index] = gave_up
        return final


def _first_of_each_uuid(messages: List[Message]) -> Tuple[List[Message], List[Message]]:
    first: List[Message] = []
    again: List[Message] = []
    seen: set[Optional[str]] = set()
    for message in messages:
        (again if message._uuid in seen else first).append(message)
        seen.add(message._uuid)
    return first, again


def _cut_short(error: DeliveryError) -> ShutdownTimeoutError:
    """The shutdown deadline ended the attempts of a message that was being sent."""
    return ShutdownTimeoutError(
        "shutdown's deadline passed while the message was being sent; raise "
        "shutdown_timeout if the server is slow",
        last_error=error,
    )
