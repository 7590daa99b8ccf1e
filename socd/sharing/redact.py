"""What of a threat document may leave the department, and the redaction of everything else.

Only the fields of :data:`READ` are read as observables (and ``threat.indicator.name``
where ``threat.indicator.type`` says what it is); nothing else of
the document (host and user names, ``event.original``, ``message``, vendor fields) is ever
turned into a shared value. Of what is read, :class:`Redactor` leaves out:

- addresses in ``sharing.redact.networks``; an IPv6 address that carries an IPv4 address
  (IPv4-mapped ``::ffff:a.b.c.d``, IPv4-compatible ``::a.b.c.d``, NAT64 ``64:ff9b::/96``,
  6to4 ``2002::/16``, Teredo) is judged by that IPv4 address too, and an IPv4-mapped address
  is shared as the IPv4 address it is;
- DNS names equal to or under ``sharing.redact.domains`` or under a suffix that is never
  delegated in the public DNS (:data:`PRIVATE_SUFFIXES`), names that hold a redacted domain
  or spell a redacted address (``app.10.1.2.3.nip.example``), and what is not a DNS name
  at all (one label, as a Windows host name: ``ws-ketoan-05``);
- the name of a host (``source.domain``, ``destination.domain``) unless its address is in the
  document and shared: the name of an internal host is a host name, not an observable;
- URLs whose host is left out, that carry a user name or password, or that mention a left-out
  address, domain or withheld name anywhere (also percent-encoded);
- every value that contains a *withheld name* (:data:`WITHHELD_FIELDS`: host, user and
  sensor names of the document, and the host names left out above), as a whole word.

Free text that is shared (a rule or malware name) goes through :meth:`Shareable.text`, which
replaces each address, domain or withheld name that must not leave with ``[redacted]``.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal
from urllib.parse import unquote, urlsplit

from socd.config import SharingRedaction

ObservableType = Literal["ipv4-addr", "ipv6-addr", "domain-name", "url", "file"]

READ: Final = (
    ("source.ip", "address", False),
    ("destination.ip", "address", False),
    ("threat.indicator.ip", "address", True),
    ("source.domain", "host", False),
    ("destination.domain", "host", False),
    ("url.domain", "domain", False),
    ("dns.question.name", "domain", False),
    ("tls.client.server_name", "domain", False),
    ("threat.indicator.url.domain", "domain", True),
    ("url.full", "url", False),
    ("url.original", "url", False),
    ("threat.indicator.url.full", "url", True),
    ("threat.indicator.url.original", "url", True),
    ("file.hash", "hashes", False),
    ("threat.indicator.file.hash", "hashes", True),
    ("cef.file_hash", "hash", False),
)
"""Every field read, how, and whether the sensor names it as the indicator: ``address`` →
``ipv4-addr``/``ipv6-addr``; ``domain`` (names asked for on the wire) → ``domain-name``;
``host`` → ``domain-name`` only when the address it goes with (:data:`HOST_DOMAIN_FIELDS`)
is shared; ``url`` → ``url``, absolute URLs only (a bare path is not a URL); ``hashes`` (an
ECS hash object: ``md5``, ``sha1``, ``sha256``, ``sha512``) → one ``file``; ``hash`` (a hash
whose algorithm the sensor does not name, CEF ``fileHash``) → ``file``, the algorithm told by
the length. Also ``threat.indicator.name``, read by ``threat.indicator.type``
(:data:`INDICATOR_NAME_TYPES`)."""
HOST_DOMAIN_FIELDS: Final = (("source.domain", "source.ip"),
                             ("destination.domain", "destination.ip"))
"""A host's name and the address it goes with."""
SERVER_NAME_FIELDS: Final = ("url.domain", "url.full", "url.original", "tls.client.server_name")
"""The name and URL of the server a request went to. When the threat's destination address
is in it and withheld (an internal server: an attack on the department's own portal), they
name that server, not a threat: withheld like its host name (in every text too)."""
INDICATOR_NAME_TYPES: Final = {"ipv4-addr": "address", "ipv6-addr": "address",
                               "domain-name": "domain", "url": "url", "file": "hash"}
"""``threat.indicator.type`` → how ``threat.indicator.name`` is read (other types, such as
``email-addr``, are not shared)."""

WITHHELD_FIELDS: Final = ("host.name", "host.hostname", "host.domain", "observer.name",
                          "observer.hostname", "related.hosts", "related.user",
                          "url.username", "url.password")
"""Names that must appear in no shared value; also every ``name``, ``full_name``, ``email``
and ``domain`` of a ``user`` object anywhere in the document (``user.*``,
``source.user.*``, ``destination.user.*``, ``user.target.*``...)."""
_USER_KEYS: Final = frozenset({"name", "full_name", "email", "domain"})

PRIVATE_SUFFIXES: Final = ("localhost", "local", "localdomain", "lan", "internal",
                           "intranet", "corp", "home", "home.arpa", "in-addr.arpa",
                           "ip6.arpa")
"""Names under these are never shared, whatever ``sharing.redact.domains`` says: special-use
names (RFC 6761 ``localhost``, RFC 6762 ``local``, RFC 8375 ``home.arpa``), ``internal``
(reserved for private use by ICANN, 2024), the private suffixes networks use that the public
DNS never delegated (``lan``, ``corp``, ``home``, ``intranet``, ``localdomain``), and reverse
names, which spell an address."""

REDACTED: Final = "[redacted]"

_HASHES: Final = {"md5": ("MD5", 32), "sha1": ("SHA-1", 40), "sha256": ("SHA-256", 64),
                  "sha512": ("SHA-512", 128)}
_HASH_BY_LENGTH: Final = {length: name for name, length in _HASHES.values()}
_HEX = re.compile(r"[0-9a-f]+")
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*")
_IPV4_TEXT = re.compile(r"(?<![0-9])(?=([0-9]{1,3}(?:\.[0-9]{1,3}){3})(?![0-9]))")
"""Dotted quads at every place one starts, overlapping (``5.10.1.2.3`` holds ``10.1.2.3``,
as in the names of services that resolve a name to the address it spells)."""
_IPV6_TEXT = re.compile(r"(?<![0-9a-z:])[0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7}(?:%[0-9a-z]+)?"
                        r"(?![0-9a-z:])")
_DOMAIN_TEXT = re.compile(r"(?<![\w.-])[\w-]+(?:\.[\w-]+)+")
_CACHE_SIZE: Final = 4096
"""Addresses, names and free texts (their redacted spans) whose verdict a :class:`Redactor`
keeps."""
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_COMPATIBLE = ipaddress.ip_network("::/96")

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Hashes = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Observable:
    """One value that may leave the department, as the STIX cyber-observable it becomes.

    ``value`` is the canonical text (an address, a lower-case DNS name, a URL as written), or
    for a ``file`` its hashes as ``((STIX hash name, lower-case hex), ...)``. ``indicated``:
    the sensor named it as the indicator (``threat.indicator.*``).
    """

    type: ObservableType
    value: str | Hashes
    indicated: bool = False


_PATHS: dict[str, tuple[str, tuple[str, ...]]] = {}
"""A dotted name → (its first part, the others)."""


def lookup(doc: Mapping[str, Any], dotted: str) -> Any:
    """The value at a dotted ECS name (``source.ip``) in nested objects, or under the dotted
    name itself as a key; None when absent."""
    try:
        first, rest = _PATHS[dotted]
    except KeyError:
        first, *others = dotted.split(".")
        first, rest = _PATHS[dotted] = (first, tuple(others))
    node: Any = doc.get(first)
    if node is not None:
        for part in rest:
            if not isinstance(node, dict):  # nested objects of a JSON document are dicts
                node = None
                break
            node = node.get(part)
            if node is None:
                break
    return doc.get(dotted) if node is None else node


def _texts(value: Any) -> Iterator[str]:
    """The strings of a keyword field: one, or each of a list."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, str):
                yield item


def dns_name(value: str) -> str | None:
    """``value`` as a DNS name (lower case, A-labels, no final dot), or None when it is not
    one: fewer than two labels, a label that is not letters, digits, ``-`` and ``_`` (RFC
    1035 §2.3.1, with the underscore of service names), more than 253 octets, or an all-digit
    last label (an address)."""
    name = value.strip().rstrip(".").lower()
    if not name or len(name) > 253:
        return None
    if not name.isascii():
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    labels = name.split(".")
    if len(labels) < 2 or labels[-1].isdigit():
        return None
    for label in labels:
        if not _LABEL.fullmatch(label):
            return None
    return name


def _embedded(address: ipaddress.IPv6Address) -> Iterator[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries (mapped, compatible, NAT64, 6to4, Teredo)."""
    if address.ipv4_mapped is not None:
        yield address.ipv4_mapped
    if address.sixtofour is not None:
        yield address.sixtofour
    if address.teredo is not None:
        yield from address.teredo
    if address in _NAT64 or (address in _COMPATIBLE and int(address) > 1):
        yield ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)


class Redactor:
    """The redaction settings (``sharing.redact``), compiled once.

    ``networks`` must be CIDR ranges or addresses and ``domains`` DNS names (as
    :class:`~socd.config.SharingRedaction` validates them); a domain that is not a DNS name
    raises ``ValueError``.
    """

    __slots__ = ("_addresses", "_domains", "_names", "_scan_domains", "_texts", "_v4", "_v6")

    def __init__(self, redaction: SharingRedaction) -> None:
        networks = [ipaddress.ip_network(text, strict=False) for text in redaction.networks]
        self._v4 = tuple(n for n in networks if isinstance(n, ipaddress.IPv4Network))
        self._v6 = tuple(n for n in networks if isinstance(n, ipaddress.IPv6Network))
        domains: list[str] = []
        scan: set[str] = set()
        for text in redaction.domains:
            name = dns_name(text)
            if name is None:
                raise ValueError(f"{text!r} is not a DNS name")
            domains.append(name)
            scan.add(name)
            scan.add(text.strip().rstrip(".").lower())  # the Unicode form of an IDN too
            with contextlib.suppress(UnicodeError):
                scan.add(name.encode("ascii").decode("idna"))
        self._domains = tuple(domains)
        self._scan_domains = tuple(sorted(scan))
        # the verdicts on the last values seen: attackers' addresses and names recur
        self._addresses: dict[str, tuple[ObservableType, str] | None] = {}
        self._names: dict[str, str | None] = {}
        self._texts: dict[str, tuple[tuple[int, int], ...]] = {}

    # ----------------------------------------------------------------- single values

    def address_redacted(self, address: Address) -> bool:
        """Whether an address is in a redacted range (IPv6 also by the IPv4 it carries)."""
        if isinstance(address, ipaddress.IPv4Address):
            return any(address in net for net in self._v4)
        if any(address in net for net in self._v6):
            return True
        return any(self.address_redacted(inner) for inner in _embedded(address))

    def address(self, value: str) -> tuple[ObservableType, str] | None:
        """(STIX type, canonical text) of an address that may be shared; None when it is
        redacted or no address. An IPv4-mapped IPv6 address becomes its IPv4 address; a
        zone (``%eth0``) is dropped."""
        try:
            return self._addresses[value]
        except KeyError:
            pass
        if len(self._addresses) >= _CACHE_SIZE:
            self._addresses.clear()
        found = self._addresses[value] = self._address(value)
        return found

    def _address(self, value: str) -> tuple[ObservableType, str] | None:
        try:
            address = ipaddress.ip_address(value.strip().split("%", 1)[0])
        except ValueError:
            return None
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if self.address_redacted(address):
            return None
        if isinstance(address, ipaddress.IPv4Address):
            return "ipv4-addr", str(address)
        return "ipv6-addr", str(address)

    def domain_redacted(self, name: str) -> bool:
        """Whether a DNS name (as :func:`dns_name` gives it) is, or is under, a redacted
        domain or a private suffix."""
        for suffix in (*self._domains, *PRIVATE_SUFFIXES):
            if name == suffix or name.endswith("." + suffix):
                return True
        return False

    def domain(self, value: str) -> str | None:
        """The DNS name to share, or None: not a DNS name, redacted, or spelling a redacted
        address (``app.10.1.2.3.nip.example``)."""
        try:
            return self._names[value]
        except KeyError:
            pass
        if len(self._names) >= _CACHE_SIZE:
            self._names.clear()
        name = dns_name(value)
        if name is not None and (self.domain_redacted(name) or self.leaks(name)):
            name = None
        self._names[value] = name
        return name

    def url(self, value: str, withheld: tuple[str, ...] = ()) -> str | None:
        """The URL as written (trimmed), or None: not absolute (``scheme://host``), spaces
        or control characters in it (RFC 3986 allows none), a user name or password in it,
        its host redacted, or a redacted address, domain or withheld name anywhere in it
        (decoded from percent-encoding too)."""
        text = value.strip()
        if not text or not text.isprintable() or " " in text:
            return None
        try:
            parts = urlsplit(text)
            host = parts.hostname
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError:
            return None
        if (not _SCHEME.fullmatch(parts.scheme) or not host or parts.username is not None
                or parts.password is not None):
            return None
        if self.address(host) is None and self.domain(host) is None:
            return None
        decoded = text
        for _ in range(3):  # %252e is %2e is .
            more = unquote(decoded)
            if more == decoded:
                break
            decoded = more
        for candidate in {text, decoded}:
            if self.leaks(candidate, withheld):
                return None
        return text

    # ----------------------------------------------------------------- free text

    def _spans(self, text: str, withheld: tuple[str, ...]) -> list[tuple[int, int]]:
        """Where ``text`` (lower case) names something that must not leave: the spans of
        the settings (kept for the next texts, rule names recur) and of ``withheld``."""
        spans = self._texts.get(text)
        if spans is None:
            if len(self._texts) >= _CACHE_SIZE:
                self._texts.clear()
            spans = self._texts[text] = tuple(self._settings_spans(text))
        found = list(spans)
        for word in withheld:
            found.extend(_word_spans(text, word))
        return found

    def _settings_spans(self, text: str) -> Iterator[tuple[int, int]]:
        """Where ``text`` (lower case) names a redacted address or domain."""
        for match in _IPV4_TEXT.finditer(text):
            octets = [int(part) for part in match.group(1).split(".")]
            if max(octets) <= 255:
                address = ipaddress.IPv4Address(bytes(octets))
                if self.address_redacted(address):
                    yield match.start(), match.start() + len(match.group(1))
        for match in _IPV6_TEXT.finditer(text):
            try:
                address6 = ipaddress.IPv6Address(match.group().split("%", 1)[0])
            except ValueError:
                continue
            if self.address_redacted(address6):
                yield match.span()
        for match in _DOMAIN_TEXT.finditer(text):
            name = dns_name(match.group())
            if name is not None and self.domain_redacted(name):
                yield match.span()
        for word in self._scan_domains:
            yield from _word_spans(text, word)

    def leaks(self, text: str, withheld: tuple[str, ...] = ()) -> bool:
        """Whether ``text`` names a redacted address or domain or a withheld name."""
        return bool(self._spans(text.lower(), withheld))

    def scrub(self, text: str, withheld: tuple[str, ...] = ()) -> str:
        """``text`` with each redacted address or domain and each withheld name replaced by
        ``[redacted]``."""
        spans = sorted(self._spans(text.lower(), withheld))
        if not spans:
            return text
        out: list[str] = []
        position = 0
        for start, end in spans:
            if end <= position:
                continue
            out.append(text[position:max(start, position)])
            out.append(REDACTED)
            position = end
        out.append(text[position:])
        return "".join(out)

    # ----------------------------------------------------------------- a document

    def shareable(self, doc: Mapping[str, Any]) -> Shareable:
        """What of ``doc`` may leave: its observables in the order of :data:`READ` (the
        indicator's name last), each once, and its withheld names."""
        withheld = set(_withheld(doc))
        shared = {field for field, address_field in HOST_DOMAIN_FIELDS if any(
            self.address(text) for text in _texts(lookup(doc, address_field)))}
        for field, _ in HOST_DOMAIN_FIELDS:
            if field not in shared:  # an internal host's name: withheld everywhere
                withheld.update(text.strip().rstrip(".").lower()
                                for text in _texts(lookup(doc, field)))
        destinations = [self.address(text) for text in _texts(lookup(doc, "destination.ip"))]
        internal_server = bool(destinations) and not any(destinations)
        if internal_server:  # the names of the department's own server: withheld everywhere
            for field in SERVER_NAME_FIELDS:
                for text in _texts(lookup(doc, field)):
                    host = (_url_host(text) if field in ("url.full", "url.original")
                            else text)
                    if host:
                        withheld.add(host.strip().rstrip(".").lower())
        words = tuple(sorted(word for word in withheld if word))
        found: dict[tuple[str, str | Hashes], Observable] = {}

        def add(got: tuple[ObservableType, str | Hashes] | None, indicated: bool) -> None:
            if got is not None:
                old = found.get(got)
                if old is None or (indicated and not old.indicated):
                    found[got] = Observable(got[0], got[1], indicated)

        for field, kind, indicated in READ:
            if internal_server and field in SERVER_NAME_FIELDS:
                continue
            value = lookup(doc, field)
            if kind == "hashes":
                hashes = _ecs_hashes(value)
                add(("file", hashes) if hashes else None, indicated)
            elif kind != "host" or field in shared:
                for text in _texts(value):
                    add(self._read(kind, text, words), indicated)
        indicator_type = lookup(doc, "threat.indicator.type")
        reading = (INDICATOR_NAME_TYPES.get(indicator_type)
                   if isinstance(indicator_type, str) else None)
        if reading is not None:
            for text in _texts(lookup(doc, "threat.indicator.name")):
                add(self._read(reading, text, words), True)
        return Shareable(self, tuple(found.values()), words)

    def _read(self, kind: str, text: str,
              words: tuple[str, ...]) -> tuple[ObservableType, str | Hashes] | None:
        """One value of a field read as ``kind`` (see :data:`READ`), or None when it may
        not leave."""
        if kind == "address":
            return self.address(text)
        if kind == "url":
            url = self.url(text, words)
            return None if url is None else ("url", url)
        if kind == "hash":
            hashes = _hash_by_length(text)
            return ("file", hashes) if hashes else None
        name = self.domain(text)  # "domain" and "host"
        if name is None or (words and self.leaks(name, words)):
            return None
        return "domain-name", name


@dataclass(frozen=True, slots=True)
class Shareable:
    """What of one threat document may leave the department.

    ``observables`` in the order of the fields they came from, each once; ``withheld`` the
    lower-case names (host, user and sensor names) that no shared text may contain.
    """

    redactor: Redactor
    observables: tuple[Observable, ...]
    withheld: tuple[str, ...]

    def text(self, value: object) -> str | None:
        """A free-text value (a rule or malware name) fit to share: trimmed, each redacted
        address or domain and each withheld name replaced by ``[redacted]``; None when not
        a string or empty."""
        if not isinstance(value, str):
            return None
        text = " ".join(value.split())
        if not text:
            return None
        return self.redactor.scrub(text, self.withheld)


def _url_host(text: str) -> str | None:
    """The host of an absolute URL (None for a bare path or what does not parse)."""
    try:
        return urlsplit(text.strip()).hostname
    except ValueError:
        return None


def _word_spans(text: str, word: str) -> Iterator[tuple[int, int]]:
    """Where ``word`` occurs in ``text`` as a whole word: not next to a letter, digit,
    ``_`` or ``-`` (so ``git`` is found in ``/git/`` but not in ``github``)."""
    start = text.find(word)
    size = len(word)
    while start >= 0:
        end = start + size
        before = text[start - 1] if start else " "
        after = text[end] if end < len(text) else " "
        if not (before.isalnum() or before in "_-") and not (after.isalnum() or after in "_-"):
            yield start, end
        start = text.find(word, start + 1)


def _withheld(doc: Mapping[str, Any]) -> Iterable[str]:
    """The document's host, user and sensor names, lower case."""
    for field in WITHHELD_FIELDS:
        for text in _texts(lookup(doc, field)):
            yield text.strip().lower()
    yield from _user_names(doc)


def _user_names(node: Mapping[str, Any], depth: int = 0) -> Iterator[str]:
    for key, value in node.items():
        if isinstance(value, dict):
            if key == "user":
                for name, item in value.items():
                    if name in _USER_KEYS:
                        for text in _texts(item):
                            yield text.strip().lower()
            if depth < 6:
                yield from _user_names(value, depth + 1)


def _ecs_hashes(value: Any) -> Hashes:
    """STIX hashes of an ECS ``hash`` object; values that are not hex of the algorithm's
    length are left out."""
    if not isinstance(value, Mapping):
        return ()
    out: list[tuple[str, str]] = []
    for key, (name, length) in _HASHES.items():
        text = value.get(key)
        if isinstance(text, str):
            hexed = text.strip().lower()
            if len(hexed) == length and _HEX.fullmatch(hexed):
                out.append((name, hexed))
    return tuple(out)


def _hash_by_length(text: str) -> Hashes:
    hexed = text.strip().lower()
    name = _HASH_BY_LENGTH.get(len(hexed))
    if name is None or not _HEX.fullmatch(hexed):
        return ()
    return ((name, hexed),)
