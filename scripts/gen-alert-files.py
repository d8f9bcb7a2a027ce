#!/usr/bin/env python3
"""Write the files derived from deploy/prometheus/alerts.yml (the one place alerts are edited):

- deploy/kubernetes/monitoring/prometheusrule.yaml: the same groups as a Prometheus Operator
  PrometheusRule (scripts/lint-deploy.sh fails when the two differ);
- deploy/prometheus/alerts_test.yml: the promtool unit tests of the alerts.

The scenarios (series fed, when each alert must fire or stay silent) are below. promtool compares
annotations too, so the expected summary/description are taken from promtool's own rendering of
the current alerts.yml: run this after changing an alert's text, read the diff of alerts_test.yml
(the rendered text is what an operator will read), and commit both. A wrong label set or firing
time still fails: annotations are only filled in for the alerts the scenario expects.

    .venv/bin/python scripts/gen-alerts-test.py        (needs promtool: Debian package prometheus)
"""
import json
import os
import re
import subprocess
import sys

import yaml

J = 'job="fedbroker",instance="a"'
tests = []
def t(name, interval, series, checks):
    tests.append(dict(name=name, interval=interval, series=series, checks=checks))

# checks: list of (eval_time, alertname, [labels dicts])
t("Redis down fires after 1 minute at 0; a healthy or recovered Redis does not", "1m",
  [(f'fedbroker_redis_up{{{J}}}', '1 1 0x6'),
   ('fedbroker_redis_up{job="fedbroker",instance="b"}', '1x8'),
   ('fedbroker_redis_up{job="fedbroker",instance="c"}', '0 0 1x6')],
  [("2m", "FedbrokerRedisDown", []),
   ("4m", "FedbrokerRedisDown", [dict(severity="critical", job="fedbroker", instance="a")])])
t("Redis errors in one store for 10 minutes fire for that store only", "1m",
  [(f'fedbroker_redis_errors_total{{{J},store="replay"}}', '0+10x20'),
   (f'fedbroker_redis_errors_total{{{J},store="cache"}}', '0x20')],
  [("5m", "FedbrokerRedisErrors", []),
   ("15m", "FedbrokerRedisErrors", [dict(severity="warning", job="fedbroker", instance="a", store="replay")])])
t("STS failing: a third of the calls sts_unavailable fires; callers' own errors (access denied) do not count", "1m",
  [(f'fedbroker_sts_calls_total{{{J},api="AssumeRoleWithSAML",outcome="ok"}}', '0+60x20'),
   (f'fedbroker_sts_calls_total{{{J},api="AssumeRoleWithSAML",outcome="sts_unavailable"}}', '0+30x20'),
   ('fedbroker_sts_calls_total{job="fedbroker-healthy",instance="b",api="AssumeRoleWithSAML",outcome="ok"}', '0+60x20'),
   ('fedbroker_sts_calls_total{job="fedbroker-healthy",instance="b",api="AssumeRoleWithSAML",outcome="sts_access_denied"}', '0+30x20')],
  [("4m", "FedbrokerStsFailing", []),
   ("10m", "FedbrokerStsFailing", [dict(severity="critical", job="fedbroker")])])
t("STS slow: p99 above 5 s for 15 minutes fires for that operation only", "1m",
  [(f'fedbroker_sts_call_duration_seconds_bucket{{{J},operation="AssumeRole",le="1"}}', '0+1x30'),
   (f'fedbroker_sts_call_duration_seconds_bucket{{{J},operation="AssumeRole",le="5"}}', '0+2x30'),
   (f'fedbroker_sts_call_duration_seconds_bucket{{{J},operation="AssumeRole",le="10"}}', '0+10x30'),
   (f'fedbroker_sts_call_duration_seconds_bucket{{{J},operation="AssumeRole",le="+Inf"}}', '0+10x30'),
   (f'fedbroker_sts_call_duration_seconds_bucket{{{J},operation="AssumeRoleWithSAML",le="1"}}', '0+10x30'),
   (f'fedbroker_sts_call_duration_seconds_bucket{{{J},operation="AssumeRoleWithSAML",le="5"}}', '0+10x30'),
   (f'fedbroker_sts_call_duration_seconds_bucket{{{J},operation="AssumeRoleWithSAML",le="10"}}', '0+10x30'),
   (f'fedbroker_sts_call_duration_seconds_bucket{{{J},operation="AssumeRoleWithSAML",le="+Inf"}}', '0+10x30')],
  [("10m", "FedbrokerStsSlow", []),
   ("20m", "FedbrokerStsSlow", [dict(severity="warning", job="fedbroker", operation="AssumeRole")])])
t("Refusals jumping from 0.1/s to 2/s fire; a steady 2/s does not", "1m",
  [(f'fedbroker_credential_refusals_total{{{J},route="saml",code="saml_signature_invalid"}}', '0+6x60 366+120x20'),
   ('fedbroker_credential_refusals_total{job="fedbroker-steady",instance="b",route="saml",code="saml_signature_invalid"}', '0+120x80')],
  [("60m", "FedbrokerRefusalSpike", []),
   ("74m", "FedbrokerRefusalSpike", [dict(severity="warning", job="fedbroker")])])
t("Rate limiting above 1/s for 10 minutes fires per limit", "1m",
  [(f'fedbroker_rate_limited_total{{{J},limit="client"}}', '0+120x20'),
   (f'fedbroker_rate_limited_total{{{J},limit="subject"}}', '0x20')],
  [("5m", "FedbrokerRateLimiting", []),
   ("15m", "FedbrokerRateLimiting", [dict(severity="warning", job="fedbroker", limit="client")])])
t("Cache hit ratio falling from 90 % to 9 % fires; a steady ratio does not", "1m",
  [(f'fedbroker_credential_cache_hits_total{{{J}}}', '0+60x360 21600+6x30'),
   (f'fedbroker_credential_cache_misses_total{{{J}}}', '0+6x360 2160+60x30'),
   ('fedbroker_credential_cache_hits_total{job="fedbroker-steady",instance="b"}', '0+60x390'),
   ('fedbroker_credential_cache_misses_total{job="fedbroker-steady",instance="b"}', '0+6x390')],
  [("360m", "FedbrokerCacheHitRatioCollapse", []),
   ("385m", "FedbrokerCacheHitRatioCollapse", [dict(severity="warning", job="fedbroker")])])
# time() starts at 0 in promtool: expiry values are seconds from the start.
D = 86400
t("IdP certificates: an IdP whose newest certificate expires soon fires; one with a published successor does not", "1m",
  [(f'fedbroker_saml_idp_certificate_expiry_timestamp_seconds{{{J},idp="corp",fingerprint="aa"}}', f'{10*D}x80'),
   (f'fedbroker_saml_idp_certificate_expiry_timestamp_seconds{{{J},idp="corp",fingerprint="bb"}}', f'{400*D}x80'),
   (f'fedbroker_saml_idp_certificate_expiry_timestamp_seconds{{{J},idp="partner",fingerprint="cc"}}', f'{10*D}x80'),
   (f'fedbroker_saml_idp_certificate_expiry_timestamp_seconds{{{J},idp="legacy",fingerprint="dd"}}', f'{2*D}x80'),
   (f'fedbroker_saml_idp_certificate_expiry_timestamp_seconds{{{J},idp="fine",fingerprint="ee"}}', f'{90*D}x80')],
  [("30m", "FedbrokerIdpCertificateExpiring", []),
   ("70m", "FedbrokerIdpCertificateExpiring", [dict(severity="warning", job="fedbroker", idp="partner"),
                                                dict(severity="warning", job="fedbroker", idp="legacy")]),
   ("70m", "FedbrokerIdpCertificateExpiringCritical", [dict(severity="critical", job="fedbroker", idp="legacy")])])
t("TLS listener certificate: 10 days left warns, 2 days left is critical, 90 days is silent", "1m",
  [('fedbroker_tls_listener_certificate_expiry_timestamp_seconds{job="fedbroker",instance="a"}', f'{10*D}x80'),
   ('fedbroker_tls_listener_certificate_expiry_timestamp_seconds{job="fedbroker",instance="b"}', f'{2*D}x80'),
   ('fedbroker_tls_listener_certificate_expiry_timestamp_seconds{job="fedbroker",instance="c"}', f'{90*D}x80')],
  [("70m", "FedbrokerTlsCertificateExpiring", [dict(severity="warning", job="fedbroker", instance="a"),
                                                dict(severity="warning", job="fedbroker", instance="b")]),
   ("70m", "FedbrokerTlsCertificateExpiringCritical", [dict(severity="critical", job="fedbroker", instance="b")])])
t("TLS certificate reload refused: warns while the failure is within the last 30 minutes", "1m",
  [('fedbroker_tls_listener_certificate_reloads_total{job="fedbroker",instance="a",outcome="failure"}', '0 0 0 1x40'),
   ('fedbroker_tls_listener_certificate_reloads_total{job="fedbroker",instance="b",outcome="success"}', '0 0 0 1x40'),
   ('fedbroker_tls_listener_certificate_reloads_total{job="fedbroker",instance="b",outcome="failure"}', '0x43')],
  [("5m", "FedbrokerTlsCertificateReloadFailing", []),
   ("10m", "FedbrokerTlsCertificateReloadFailing", [dict(severity="warning", job="fedbroker", instance="a", outcome="failure")]),
   ("40m", "FedbrokerTlsCertificateReloadFailing", [])])
t("IdP metadata: validUntil within a day and no successful refresh for 6 hours fire", "1m",
  [(f'fedbroker_saml_metadata_valid_until_timestamp_seconds{{{J},idp="corp"}}', f'{D//2}x440'),
   (f'fedbroker_saml_metadata_valid_until_timestamp_seconds{{{J},idp="fine"}}', f'{30*D}x440'),
   (f'fedbroker_saml_metadata_last_refresh_success_timestamp_seconds{{{J},idp="corp"}}', '0x440'),
   (f'fedbroker_saml_metadata_last_refresh_success_timestamp_seconds{{{J},idp="fine"}}', '0+600x60')],
  [("40m", "FedbrokerIdpMetadataExpiring", [dict(severity="warning", job="fedbroker", instance="a", idp="corp")]),
   ("5h", "FedbrokerIdpMetadataRefreshFailing", []),
   ("7h", "FedbrokerIdpMetadataRefreshFailing", [dict(severity="warning", job="fedbroker", instance="a", idp="corp")])])
t("A refused reload fires after 5 minutes; a successful one clears it", "1m",
  [(f'fedbroker_config_last_reload_successful{{{J}}}', '1 1 0x8 1x5')],
  [("5m", "FedbrokerConfigReloadFailing", []),
   ("8m", "FedbrokerConfigReloadFailing", [dict(severity="warning", job="fedbroker", instance="a")]),
   ("13m", "FedbrokerConfigReloadFailing", [])])
t("Broker down: a fedbroker target unscraped for 2 minutes fires; other jobs are ignored", "1m",
  [('up{job="fedbroker",instance="a"}', '1 0x6'),
   ('up{job="fedbroker",instance="b"}', '1x7'),
   ('up{job="node",instance="c"}', '0x7')],
  [("2m", "FedbrokerDown", []),
   ("4m", "FedbrokerDown", [dict(severity="critical", job="fedbroker", instance="a")])])

def gofmt(at):
    m = int(at[:-1]) * (60 if at.endswith("h") else 1)
    h, m = divmod(m, 60)
    return (f"{h}h" if h else "") + (f"{m}m" if m or not h else "")

def build(annotations):
    doc = {"rule_files": ["alerts.yml"], "evaluation_interval": "1m", "tests": []}
    for te in tests:
        checks = []
        for (at, name, alerts) in te["checks"]:
            exp = []
            for labels in alerts:
                e = {"exp_labels": labels}
                key = (gofmt(at), name, tuple(sorted(labels.items())))
                if key in annotations:
                    e["exp_annotations"] = annotations[key]
                exp.append(e)
            checks.append({"eval_time": at, "alertname": name, "exp_alerts": exp})
        doc["tests"].append({"name": te["name"], "interval": te["interval"],
                             "input_series": [{"series": s, "values": v} for s, v in te["series"]],
                             "alert_rule_test": checks})
    return doc

class Dumper(yaml.SafeDumper):
    """Indented block sequences (yamllint's default style)."""

    def increase_indent(self, flow=False, indentless=False):
        return super().increase_indent(flow, False)


ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
out_dir = os.path.join(ROOT, "deploy", "prometheus")

RULE_HEADER = """---
# GENERATED from deploy/prometheus/alerts.yml by scripts/gen-alert-files.py: edit alerts.yml and
# run the script. The Prometheus Operator loads it when its ruleSelector matches these labels.
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: fedbroker
  labels:
    app.kubernetes.io/name: fedbroker
spec:
"""


def write_prometheus_rule():
    with open(os.path.join(out_dir, "alerts.yml"), encoding="utf-8") as f:
        text = f.read()
    groups = text[text.index("\ngroups:") + 1:]
    body = "".join(("  " + line if line.strip() else line) for line in groups.splitlines(True))
    path = os.path.join(ROOT, "deploy", "kubernetes", "monitoring", "prometheusrule.yaml")
    with open(path, "w", encoding="utf-8") as f:
        f.write(RULE_HEADER + body)
    with open(path, encoding="utf-8") as f:
        assert yaml.safe_load(f)["spec"] == yaml.safe_load(text), "PrometheusRule differs"


write_prometheus_rule()
def run(doc):
    with open(os.path.join(out_dir, "alerts_test.yml"), "w") as f:
        f.write("---\n# promtool unit tests of alerts.yml (scripts/lint-deploy.sh runs `promtool test rules` on it):\n"
                "# each alert fires on the series fed to it and stays silent on healthy ones.\n"
                "# Regenerate the expected annotations after changing an alert's text.\n")
        yaml.dump(doc, f, Dumper=Dumper, sort_keys=False, width=1000, allow_unicode=True)
    p = subprocess.run(["promtool", "test", "rules", "alerts_test.yml"], cwd=out_dir, capture_output=True, text=True)
    return p.returncode, p.stdout + p.stderr

rc, out = run(build({}))
# Parse the "got" blocks: alertname, time, then got labels/annotations.
ann = {}
cur = None
section = None
for line in out.splitlines():
    m = re.search(r"alertname: (\w+), time: ([^,]+),", line)
    if m:
        cur = (m.group(2).strip(), m.group(1)); continue
    if "got:[" in line: section = "got"; continue
    if "exp:[" in line: section = "exp"; continue
    m = re.match(r"\s*Labels:\{(.*)\},?\s*$", line)
    if m and section == "got":
        labels = dict((k, json.loads('"%s"' % v)) for k, v in re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(1)))
        labels.pop("alertname", None)
        lastlabels = labels; continue
    m = re.match(r"\s*Annotations:\{(.*)\},?\s*$", line)
    if m and section == "got" and cur:
        a = dict((k, json.loads('"%s"' % v)) for k, v in re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(1)))
        ann[(cur[0], cur[1], tuple(sorted(lastlabels.items())))] = {"summary": a["summary"], "description": a["description"]}
rc, out = run(build(ann))
print(out)
sys.exit(rc)
