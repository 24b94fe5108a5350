"""Small synthetic security corpora for the partial-corpus tests (issue 16).

Every row is generated here from a seed (never copied from ../shared/corpora), in the
corpus schema: `id, domain, source, license, title, text` for passages, and `html` for the
web pages of `web_raw.jsonl`. Each document draws its own sentences, products, ports and
counts, so documents are distinct enough to survive the duplicate screen while staying on
topic for the web path's relevance filter.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

SOURCE = "goose_assets_tests (generated security passages)"
LICENSE = "CC0-1.0"

_PRODUCTS = ["Apache Tomcat", "nginx", "OpenSSH", "Exim", "Jenkins", "GitLab", "Confluence",
             "Redis", "Elasticsearch", "WordPress", "Drupal", "Samba", "Postfix", "Grafana"]
_ATTACKERS = ["a ransomware crew", "an initial access broker", "a phishing operator",
              "a botnet herder", "an insider with stolen credentials", "a state-sponsored group"]
_TOPICS: dict[str, list[str]] = {
    "SQL injection": [
        "The login form of {product} {v} concatenated the user name into a query string.",
        "An attacker who typed a quote character closed the string and appended a clause that was always true.",
        "Because the database could not tell data from code, it returned all {n} user rows to the caller.",
        "Parameterized queries send the statement first and the input separately, so the input is never parsed as SQL.",
        "After the fix, the same payload was stored as a literal name and matched zero accounts.",
        "The audit log showed {k} failed attempts from one address before the successful bypass.",
        "Least privilege limits the damage: the web account could read the users table but not drop it.",
        "A web application firewall blocked the obvious payloads, yet an encoded variant passed through.",
        "Therefore the team treated the firewall as a second layer and fixed the query itself.",
        "Error messages that echoed the failing query made the injection much easier to tune.",
        "Stored procedures helped only where they did not build dynamic SQL from their arguments.",
        "The incident report estimated that {n} records were exposed over {d} days.",
    ],
    "credential stuffing": [
        "{attacker} replayed {n} leaked password pairs against the {product} login page.",
        "Because many users reuse passwords, roughly {p} percent of the attempts succeeded.",
        "Rate limiting by address failed since the requests came from {k} residential proxies.",
        "Multi-factor authentication stopped the takeover even where the password was correct.",
        "The defenders then compared login attempts against a list of breached passwords.",
        "Accounts whose password appeared in the list were forced to reset it at the next sign-in.",
        "A sudden rise of failed logins across many accounts is the signature of stuffing, not guessing.",
        "Guessing targets one account with many passwords, while stuffing tries one password per account.",
        "So lockout after {k} failures protects against guessing but barely slows stuffing.",
        "Device fingerprints and impossible-travel alerts flagged {d} compromised sessions.",
        "The service rotated session tokens so that stolen cookies stopped working within minutes.",
        "Over {d} days the campaign moved from {product} to the company's VPN portal.",
    ],
    "privilege escalation": [
        "The {product} {v} service ran as root and loaded plugins from a world-writable folder.",
        "A local user copied a malicious plugin there and waited for the service to restart.",
        "When the service restarted, the plugin executed with root privileges and added a new sudo rule.",
        "Hence a low-privileged foothold became full control of the host in under {d} minutes.",
        "Running the service as a dedicated account would have confined the plugin to that account.",
        "File integrity monitoring raised an alert {k} seconds after the plugin was written.",
        "The sudo rule granted the attacker's user passwordless access to every command.",
        "Defenders removed the rule, fixed the folder permissions and rebuilt the host from a clean image.",
        "The same misconfiguration was found on {n} other servers during the follow-up scan.",
        "Kernel exploits are noisier, so attackers prefer misconfigurations like this one.",
        "An allow list of signed plugins would have refused the unsigned file outright.",
        "The lesson is that a writable path loaded by a privileged process is an escalation path.",
    ],
    "lateral movement": [
        "After phishing one laptop, {attacker} dumped cached credentials from memory.",
        "The harvested administrator hash let them authenticate to {n} servers without cracking it.",
        "This pass-the-hash technique works because the protocol accepts the hash itself as proof.",
        "They used remote service creation on port {port} to run their tool on each server.",
        "Network segmentation would have kept the workstation subnet away from the server subnet.",
        "Unique local administrator passwords per host break the reuse that made the spread possible.",
        "The detection team noticed {k} new services created within one hour across the fleet.",
        "Consequently they isolated the laptop and reset every privileged account the same day.",
        "Tiered administration keeps domain admin credentials off workstations entirely.",
        "Logs from {product} showed the first remote login {d} hours after the phishing email.",
        "Blocking inbound SMB between workstations stopped the worm-like part of the intrusion.",
        "The attackers staged {n} megabytes of archives on a file server before they were evicted.",
    ],
    "patching": [
        "A remote code execution flaw in {product} {v} received a public exploit within {d} days.",
        "Scanners found {n} internet-facing instances of the vulnerable version the next morning.",
        "The vendor's fix changed how request headers longer than {k} bytes were parsed.",
        "Teams that could not patch at once disabled the affected module as a mitigation.",
        "Because exploitation needed no authentication, the flaw was rated critical.",
        "Asset inventory decided the response time: unknown servers stayed vulnerable longest.",
        "Virtual patching on the proxy blocked the exploit pattern until the upgrade finished.",
        "The upgrade was rolled out to a canary group first and then to the remaining hosts.",
        "Two weeks later, {p} percent of the exposed instances were still unpatched.",
        "Hunting for the exploit's web shell found {k} compromised hosts that had been patched too late.",
        "Patching removes the flaw but does not evict an attacker who is already inside.",
        "The post-incident review added the product to the list of services patched within {d} days.",
    ],
    "phishing": [
        "The email claimed to come from the payroll team and linked to a copy of the {product} login page.",
        "The fake page forwarded each password to {attacker} and then redirected to the real site.",
        "Of the {n} recipients, {k} clicked the link and {d} entered their password.",
        "The sender domain differed from the real one by a single swapped letter.",
        "SPF, DKIM and DMARC checks failed, yet the gateway only tagged the message instead of rejecting it.",
        "Security keys would have refused to sign in on the look-alike domain at all.",
        "Reporting buttons let users flag the message, and the first report arrived after {p} minutes.",
        "The team then purged the email from every mailbox and reset the affected passwords.",
        "Training reduced click rates, but technical controls stopped the attack that training missed.",
        "Therefore the gateway policy changed to reject mail that fails DMARC for the company's own domain.",
        "The look-alike domain had been registered {d} days before the campaign started.",
        "Browser warnings about a new, unranked domain were ignored by most of the victims.",
    ],
}


def _fill(template: str, rng: random.Random) -> str:
    return template.format(
        product=rng.choice(_PRODUCTS), v=f"{rng.randint(1, 9)}.{rng.randint(0, 30)}.{rng.randint(0, 9)}",
        n=rng.randint(12, 9000), k=rng.randint(3, 250), d=rng.randint(2, 60), p=rng.randint(2, 40),
        port=rng.choice([135, 139, 445, 3389, 5985, 22]), attacker=rng.choice(_ATTACKERS),
    )


def security_passage(i: int, sentences: int = 9) -> tuple[str, str]:
    """(title, text): `sentences` sentences on one topic, drawn and filled by seed `i`."""
    rng = random.Random(f"goose-partial-corpus-{i}")
    topic = list(_TOPICS)[i % len(_TOPICS)]
    pool = _TOPICS[topic]
    picked = sorted(rng.sample(range(len(pool)), min(sentences, len(pool))))
    return f"{topic.capitalize()} case {i}", " ".join(_fill(pool[j], rng) for j in picked)


def cyber_rows(n: int, start: int = 0) -> list[dict[str, str]]:
    """`n` passages in the corpus schema of `cyber.jsonl`."""
    rows = []
    for i in range(start, start + n):
        title, text = security_passage(i)
        rows.append({"id": f"cyber-{i:04d}", "domain": "cyber", "source": SOURCE, "license": LICENSE,
                     "title": title, "text": text})
    return rows


def web_rows(n: int, domain: str = "cyber", start: int = 0) -> list[dict[str, str]]:
    """`n` raw HTML pages in the schema of `web_raw.jsonl`: a security article of two
    paragraphs between navigation and footer boilerplate, labelled `domain`."""
    rows = []
    for i in range(start, start + n):
        title, first = security_passage(i, sentences=8)
        _, second = security_passage(i + 10_000, sentences=6)
        html = (
            f"<html><head><title>{title}</title></head><body>"
            "<nav><a href='/'>Home</a> | <a href='/blog'>Blog</a> | <a href='/about'>About us</a></nav>"
            f"<article><h1>{title}</h1><p>{first}</p><p>{second}</p></article>"
            "<footer>Copyright 2026 Example Security Blog. All rights reserved. Privacy policy.</footer>"
            "</body></html>"
        )
        rows.append({"id": f"web-{i:04d}", "domain": domain, "source": SOURCE, "license": LICENSE,
                     "url_or_path": f"https://blog.example/posts/{i}", "html": html})
    return rows


def write_jsonl(path: Path, rows: list[dict[str, str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path
