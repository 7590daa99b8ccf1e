"""SigmaHQ's community rules on the sensors socd normalises, through socd's own pipelines.

The Zeek rules (logsource product zeek, one service per Zeek log) with the ``zeek`` pipeline
on events of the zeek connector; SigmaHQ's generic DNS, proxy and web-server rules with the
``zeek`` and the ``suricata`` pipelines. Every rule must load, and each Zeek rule fire on a
record of its log written as Zeek writes it, bound as the daemon binds an input of that log.
The rules come from ../shared/conformance/sigmahq-rules (skipped without it).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from socd.classify import RuleSet
from socd.classify.model import RuleInfo
from socd.normalize import Normalizer, build_normalizer

ROOT = Path(__file__).resolve().parents[3]
SIGMAHQ = ROOT.parent / "shared" / "conformance" / "sigmahq-rules"
CATEGORIES = ("dns", "proxy", "webserver")


def sigmahq_rules(*, zeek: bool) -> list[Path]:
    """SigmaHQ's rule files of product zeek, or of the generic categories (no product)."""
    if not SIGMAHQ.is_dir():
        pytest.skip("../shared/conformance/sigmahq-rules is not present")
    return [path for path, (product, category, _) in _logsources().items()
            if (product == "zeek" if zeek else not product and category in CATEGORIES)]


@cache
def _logsources() -> dict[Path, tuple[str | None, str | None, str]]:
    """(product, category, id) of every SigmaHQ rule file that names a network or web
    logsource (the others are not read in full: the set has thousands)."""
    found = {}
    for path in sorted(SIGMAHQ.rglob("*.yml")):
        text = path.read_text(encoding="utf-8")
        if "zeek" not in text and not any(f"category: {c}" in text for c in CATEGORIES):
            continue
        rule = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        if isinstance(rule, dict) and "detection" in rule:
            logsource = rule.get("logsource") or {}
            found[path] = (logsource.get("product"), logsource.get("category"), str(rule["id"]))
    return found


@cache
def loaded(zeek: bool, pipeline: str) -> tuple[RuleSet, int]:
    """The rules loaded with the pipeline (every problem fails), and how many files there were."""
    files = sigmahq_rules(zeek=zeek)
    rules, problems = RuleSet.load(files, pipelines=[(pipeline,)], strict=False)
    assert [str(p) for p in problems] == []
    return rules, len(files)


@cache
def normalizer(connector: str) -> Normalizer:
    return build_normalizer(connector, sensor="test-sensor", timezone="UTC")


def rule_file_id(name: str) -> str:
    """The id of the SigmaHQ rule of that file name."""
    (rule_id,) = [found[2] for path, found in _logsources().items() if path.stem == name]
    return rule_id


def test_every_sigmahq_zeek_rule_loads_with_the_zeek_pipeline() -> None:
    """All of SigmaHQ's Zeek rules (rules/network/zeek/ and the emerging-threat ones) load."""
    rules, files = loaded(True, "zeek")
    assert files >= 20
    assert len(rules.rules) == files


@pytest.mark.parametrize("pipeline", ["zeek", "suricata"])
def test_every_generic_dns_proxy_webserver_rule_loads(pipeline: str) -> None:
    """SigmaHQ's DNS, proxy and web-server rules load with either pipeline."""
    rules, files = loaded(False, pipeline)
    assert files >= 100
    assert len(rules.rules) == files


# --------------------------------------------------------------------------- Zeek records


def zeek(**fields: Any) -> dict[str, Any]:
    """A Zeek record as its JSON writer writes it (flat dotted keys)."""
    return {"ts": 1714532400.25, "uid": "CHhAvVGS1DHFjwGM9", "id.orig_h": "10.20.1.15",
            "id.orig_p": 50123, "id.resp_h": "10.20.1.2", "id.resp_p": 445, **fields}


SMB = {"action": "SMB::FILE_OPEN", "size": 0}
# SigmaHQ Zeek rule (file name) → the Zeek log (service) and a record it must fire on
ZEEK_RECORDS: dict[str, tuple[str, dict[str, Any]]] = {
    "zeek_dce_rpc_mitre_bzar_execution": ("dce_rpc", zeek(
        endpoint="ITaskSchedulerService", operation="SchRpcRegisterTask", named_pipe="atsvc")),
    "zeek_dce_rpc_mitre_bzar_persistence": ("dce_rpc", zeek(
        endpoint="spoolss", operation="RpcAddMonitor", named_pipe="spoolss")),
    "zeek_dce_rpc_potential_petit_potam_efs_rpc_call": ("dce_rpc", zeek(
        endpoint="efsrpc", operation="efsrpcopenfileraw", named_pipe="lsarpc")),
    "zeek_dce_rpc_exploit_cve_2021_1675_printnightmare_print_driver_install": ("dce_rpc", zeek(
        endpoint="IRemoteWinspool", operation="RpcAsyncInstallPrinterDriverFromPackage")),
    "zeek_dce_rpc_smb_spoolss_named_pipe": ("smb_files", zeek(
        path="\\\\10.20.1.2\\IPC$", name="spoolss", **SMB)),
    "zeek_smb_converted_win_atsvc_task": ("smb_files", zeek(
        path="\\*\\IPC$", name="atsvc", **SMB)),
    "zeek_smb_converted_win_impacket_secretdump": ("smb_files", zeek(
        path="\\\\10.20.1.2\\ADMIN$", name="SYSTEM32\\xTmUoWnB.tmp", **SMB)),
    "zeek_smb_converted_win_lm_namedpipe": ("smb_files", zeek(
        path="\\\\*\\IPC$", name="evilpipe", **SMB)),
    "zeek_smb_converted_win_susp_psexec": ("smb_files", zeek(
        path="\\\\10.20.1.2\\IPC$", name="RemCom_communicaton-stdin", **SMB)),
    "zeek_smb_converted_win_susp_raccess_sensitive_fext": ("smb_files", zeek(
        path="\\\\10.20.1.2\\C$", name="Users\\a\\mail.pst", **SMB)),
    "zeek_smb_converted_win_transferring_files_with_credential_data": ("smb_files", zeek(
        path="\\\\10.20.1.2\\C$", name="\\ntds.dit", **SMB)),
    "zeek_default_cobalt_strike_certificate": ("x509", {
        "ts": 1714532400.25, "id": "FkYhSv3n5uXmAY7Mi4", "certificate.version": 3,
        "certificate.serial": "8BB00EE", "certificate.subject": "CN=Major Cobalt Strike",
        "certificate.issuer": "CN=Major Cobalt Strike"}),
    "zeek_dns_kerberos_coercion_via_dns_object_spn_spoofing": ("dns", zeek(
        query="dc011UWhRCAAAAAAAAAAAAAAAAAAAAAAAAAAAAwbEAYBAAAA.corp.example",
        qtype_name="A", rcode_name="NOERROR", Z=0, answers=["10.20.1.66"], rejected=False)),
    "zeek_dns_mining_pools": ("dns", zeek(
        query="pool.supportxmr.com", qtype_name="A", rcode_name="NOERROR", Z=0,
        answers=["104.243.33.118"], rejected=False)),
    "zeek_dns_nkn": ("dns", zeek(
        query="mainnet-seed-0003.nkn.org", qtype_name="A", Z=0, answers=["3.1.2.3"],
        rejected=False)),
    "zeek_dns_susp_zbit_flag": ("dns", zeek(
        **{"id.resp_p": 53}, query="update.example.com", qtype_name="A", Z=1,
        answers=["198.51.100.7"], rejected=False)),
    "zeek_dns_torproxy": ("dns", zeek(
        query="abcdefghijklmnop.onion.to", qtype_name="A", Z=0, rejected=False)),
    "zeek_http_executable_download_from_webdav": ("http", zeek(
        method="GET", host="files.example.net", uri="/webdav/invoice.exe",
        user_agent="Microsoft-WebDAV-MiniRedir/10.0.19041", status_code=200,
        resp_mime_types=["application/x-dosexec"])),
    "zeek_http_susp_file_ext_from_susp_tld": ("http", zeek(
        method="GET", host="cdn-update.ru", uri="/get/setup.exe", user_agent="Mozilla/5.0",
        status_code=200, resp_mime_types=["application/x-dosexec"])),
    "zeek_http_webdav_put_request": ("http", zeek(
        **{"id.resp_h": "203.0.113.80"}, method="PUT", host="203.0.113.80", uri="/share/a.txt",
        user_agent="Microsoft-WebDAV-MiniRedir/10.0.19041", status_code=201)),
    "zeek_http_katz_stealer_susp_useragent": ("http", zeek(
        method="POST", host="203.0.113.80", uri="/gate", user_agent="katz-ontop",
        status_code=200)),
    "zeek_http_exploit_cve_2021_38647_omigod_no_auth_rce": ("http", zeek(
        **{"id.resp_p": 5986}, method="POST", host="10.20.1.2", uri="/wsman", status_code=200,
        request_body_len=1824, client_header_names=["HOST", "CONTENT-TYPE", "CONTENT-LENGTH"])),
    "zeek_rdp_public_listener": ("rdp", zeek(
        **{"id.orig_h": "198.51.100.23", "id.resp_p": 3389}, cookie="admin",
        result="Success", security_protocol="HYBRID")),
    "zeek_susp_kerberos_rc4": ("kerberos", zeek(
        **{"id.resp_p": 88}, request_type="TGS", client="alice/CORP.EXAMPLE",
        service="MSSQLSvc/db01.corp.example:1433", cipher="rc4-hmac", success=True)),
}


def matched_ids(record: dict[str, Any], logsource: dict[str, str], rules: RuleSet,
                pipeline: str, connector: str) -> list[str]:
    event = normalizer(connector).normalize(orjson.dumps(record))
    bound = rules.bind(logsource, pipelines=(pipeline,))
    return [rule.id for rule in bound.match(event)]


def test_every_sigmahq_zeek_rule_has_a_record_here() -> None:
    """Each SigmaHQ Zeek rule is exercised below: a new one fails here until it is."""
    assert {p.stem for p in sigmahq_rules(zeek=True)} == set(ZEEK_RECORDS)


@pytest.mark.parametrize("name", sorted(ZEEK_RECORDS))
def test_sigmahq_zeek_rule_fires_on_its_zeek_log(name: str) -> None:
    """The record, through the zeek connector, matches the rule bound to an input of its log
    (logsource product zeek, service = the log) with the zeek pipeline."""
    service, record = ZEEK_RECORDS[name]
    rules, _ = loaded(True, "zeek")
    ids = matched_ids(record, {"product": "zeek", "service": service}, rules, "zeek", "zeek")
    assert rule_file_id(name) in ids


def test_zeek_rules_meet_only_the_input_of_their_log() -> None:
    """A Zeek input of one log meets only the rules of that service; an input that names no
    service meets none of them (they need the log)."""
    rules, _ = loaded(True, "zeek")

    def services(logsource: dict[str, str]) -> set[str]:
        bound = rules.bind(logsource, pipelines=("zeek",))
        return {rule.logsource.get("service", "") for rule in bound.rules}

    assert services({"product": "zeek", "service": "dns"}) == {"dns"}
    assert services({"product": "zeek", "service": "smb_files"}) == {"smb_files"}
    assert services({"product": "zeek"}) == set()
    _, record = ZEEK_RECORDS["zeek_dns_torproxy"]
    assert matched_ids(record, {"product": "zeek", "service": "smb_files"}, rules, "zeek",
                       "zeek") == []


def test_negated_zeek_rule_stays_quiet_on_ordinary_records() -> None:
    """Rules that fire on what is *not* there (RDP from a public address, the DNS Z bit) do
    not fire on an ordinary record of their log."""
    rules, _ = loaded(True, "zeek")
    private_rdp = zeek(**{"id.resp_p": 3389}, cookie="admin", result="Success")
    plain_dns = zeek(**{"id.resp_p": 53}, query="www.example.org", qtype_name="A", Z=0,
                     answers=["93.184.216.34"], rejected=False)
    assert matched_ids(private_rdp, {"product": "zeek", "service": "rdp"}, rules, "zeek",
                       "zeek") == []
    assert matched_ids(plain_dns, {"product": "zeek", "service": "dns"}, rules, "zeek",
                       "zeek") == []


# --------------------------------------------------------------------------- categories

WANNACRY = "ifferfsodp9ifjaposdfjhgosurijfaewrwergwea.com"


def test_generic_dns_rule_fires_on_zeek_dns_log() -> None:
    """A dns-category rule (no product) meets the Zeek dns input: the pipeline makes it a rule
    of product zeek, service dns."""
    rules, _ = loaded(False, "zeek")
    record = zeek(**{"id.resp_p": 53}, query=WANNACRY, qtype_name="A", Z=0, rejected=False)
    ids = matched_ids(record, {"product": "zeek", "service": "dns"}, rules, "zeek", "zeek")
    assert rule_file_id("net_dns_wannacry_killswitch_domain") in ids


def test_generic_proxy_and_webserver_rules_fire_on_zeek_http_log() -> None:
    """Proxy rules (c-useragent, cs-host) and web-server rules (cs-uri-query, keywords) meet
    the Zeek http input."""
    rules, _ = loaded(False, "zeek")
    http = {"product": "zeek", "service": "http"}
    hydra = zeek(method="POST", host="portal.example.gov", uri="/login",
                 user_agent="Mozilla/4.0 (hydra)", status_code=401)
    assert rule_file_id("proxy_ua_hacktool") in matched_ids(hydra, http, rules, "zeek", "zeek")
    traversal = zeek(method="GET", host="portal.example.gov",
                     uri="/cgi-bin/view?file=../../../etc/passwd", status_code=404)
    assert rule_file_id("web_path_traversal_exploitation_attempt") in matched_ids(
        traversal, http, rules, "zeek", "zeek")


def eve(event_type: str, **record: Any) -> dict[str, Any]:
    return {"timestamp": "2024-05-01T10:00:00.000000+0700", "event_type": event_type,
            "src_ip": "10.20.1.15", "src_port": 50123, "dest_ip": "203.0.113.80",
            "dest_port": 80, "proto": "TCP", **record}


def test_generic_rules_fire_on_suricata_dns_and_http_records() -> None:
    """With the suricata pipeline, a dns-category rule fires on an EVE dns record and a proxy
    rule on an EVE http record of the Suricata input; never on another record type."""
    rules, _ = loaded(False, "suricata")
    suricata = {"product": "suricata"}
    dns = eve("dns", dns={"type": "query", "id": 4242, "rrname": WANNACRY, "rrtype": "A"})
    assert rule_file_id("net_dns_wannacry_killswitch_domain") in matched_ids(
        dns, suricata, rules, "suricata", "suricata")
    http = eve("http", http={"hostname": "portal.example.gov", "url": "/login",
                             "http_user_agent": "Mozilla/4.0 (hydra)", "http_method": "POST",
                             "status": 401})
    assert rule_file_id("proxy_ua_hacktool") in matched_ids(http, suricata, rules, "suricata",
                                                            "suricata")
    alert = eve("alert", http=http["http"],
                alert={"action": "allowed", "signature_id": 1, "signature": "x",
                       "category": "Misc activity", "severity": 3})
    assert matched_ids(alert, suricata, rules, "suricata", "suricata") == []


def test_community_rules_load_beside_the_shipped_policies() -> None:
    """rules/ with SigmaHQ's Zeek rules, for inputs without and with the zeek pipeline, loads
    without a problem; a Zeek dns input meets the shipped Zeek policy and the dns rules."""
    files = [ROOT / "rules", *sigmahq_rules(zeek=True)]
    rules, problems = RuleSet.load(files, pipelines=[(), ("zeek",)], strict=False)
    assert [str(p) for p in problems] == []
    bound = rules.bind({"product": "zeek", "service": "dns"}, pipelines=("zeek",))
    kinds: set[str] = {_origin(rule) for rule in bound.rules}
    assert kinds == {"shipped", "sigmahq"}


def _origin(rule: RuleInfo) -> str:
    return "shipped" if Path(rule.source).is_relative_to(ROOT / "rules") else "sigmahq"
