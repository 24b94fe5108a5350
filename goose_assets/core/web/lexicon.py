"""Word lists used by the web-page filters in `goose_assets.core.web.pages`.

Data only, kept apart so the filter logic stays readable. All entries are lower case.

- `STOP_WORDS`: function words per language. They drive the stop-word-ratio language
  detector, so every list holds words that are frequent in running prose of that language
  and, where possible, rare in the others.
- `GOPHER_STOP_WORDS`: the short list of the Gopher "stop word" rule (Rae et al. 2021: a
  document must contain at least two of them); German gets the analogous list.
- `DOMAIN_LEXICONS`: a short description and keyword stems per domain for the relevance
  score. A stem ending in `*` matches any word that starts with it; any other entry matches
  the word itself and its plural (`s`/`es`). Multi-word entries are not supported on
  purpose: single tokens keep the scorer one regex pass.
"""

from __future__ import annotations

from dataclasses import dataclass

STOP_WORDS: dict[str, frozenset[str]] = {
    "en": frozenset(
        """a about above after again against all am an and any are as at be because been
        before being below between both but by can could did do does doing down during each
        few for from further had has have having he her here hers herself him himself his how
        i if in into is it its itself just me more most my myself no nor not now of off on
        once only or other our ours out over own same she should so some such than that the
        their theirs them themselves then there these they this those through to too under
        until up very was we were what when where which while who whom why will with would
        you your yours yourself""".split()
    ),
    "de": frozenset(
        """aber alle allem allen aller alles als also am an auch auf aus bei beim bin bis
        bist da damit dann das dass dem den denn der des dich die dies diese diesem diesen
        dieser dieses dir doch dort du durch ein eine einem einen einer eines er es etwas
        euch euer für gegen gewesen hab habe haben hat hatte hatten hier hin hinter ich ihm
        ihn ihnen ihr ihre ihrem ihren ihrer im in indem ins ist jede jedem jeden jeder jedes
        jetzt kann kein keine können könnte man manche mein meine mich mir mit muss musste
        nach nicht nichts noch nun nur ob oder ohne sehr sein seine seinem seinen seiner
        sich sie sind so solche soll sollte sondern sonst über um und uns unser unter viel
        vom von vor war waren warum was weil weiter welche welchem welchen welcher wenn wer
        werde werden wie wieder will wir wird wirst wo wollen wollte würde würden zu zum zur
        zwar zwischen""".split()
    ),
    "fr": frozenset(
        """au aux avec ce ces cette dans de des du elle elles en est et été être il ils je
        la le les leur leurs lui mais me même mes moi mon ne nos notre nous on ont ou où par
        pas pour qu que qui sa sans se ses son sont sur ta te tes toi ton tu un une vos votre
        vous y été était étaient""".split()
    ),
    "es": frozenset(
        """al algo como con contra cual cuando de del desde donde durante el ella ellas
        ellos en entre era es esa ese eso esta este esto fue ha hay la las le les lo los más
        me mi mucho muy nada ni no nos o otra otro para pero por porque que quien se sea ser
        si sin sobre su sus también tiene todo tu un una uno unos y ya""".split()
    ),
    "it": frozenset(
        """al alla alle anche che chi ci come con da dal dalla dei del della delle di dove
        ed gli ha hanno il in io la le lei lo loro ma mi nel nella non per più quale quando
        questo questa se sei si sono su sua suo tra tu un una uno è""".split()
    ),
    "pt": frozenset(
        """ao aos as com como da das de do dos ela elas ele eles em entre era essa esse
        esta este eu foi há isso mais mas me muito na nas no nos não o os ou para pela pelo
        por quando que se sem ser seu sua são também um uma você à é""".split()
    ),
    "nl": frozenset(
        """aan al als bij dan dat de die dit door een en er had heb heeft het hij hoe ik in
        is je kan maar me met mij na naar niet nog nu of om onder ons ook op over te tot uit
        van voor was wat we wel werd wie wij zal ze zich zij zijn zo""".split()
    ),
}

LANGUAGE_NAMES: dict[str, str] = {
    "en": "english",
    "de": "german",
    "fr": "french",
    "es": "spanish",
    "it": "italian",
    "pt": "portuguese",
    "nl": "dutch",
}

GOPHER_STOP_WORDS: dict[str, frozenset[str]] = {
    "en": frozenset({"the", "be", "to", "of", "and", "that", "have", "with"}),
    "de": frozenset({"der", "die", "das", "und", "zu", "von", "mit", "ist"}),
}


@dataclass(frozen=True, slots=True)
class DomainLexicon:
    """What a domain is about: a one-line description (for prompts and an embedding
    variant) and keyword stems for the keyword relevance score."""

    description: str
    keywords: tuple[str, ...]


def _stems(block: str) -> tuple[str, ...]:
    return tuple(block.split())


DOMAIN_LEXICONS: dict[str, DomainLexicon] = {
    # Stems are chosen against news text: a prefix that also starts common general words
    # ("import*" -> "important", "gene*" -> "general", "optimi*" -> "optimistic") is spelled
    # out instead, and words with a frequent everyday sense ("series", "product", "class",
    # "current", "rate", "argument") are left out.
    "math": DomainLexicon(
        description=(
            "Mathematics: definitions, theorems and proofs, equations and their solutions, "
            "algebra, geometry, calculus, number theory, probability, statistics and "
            "optimization, with worked steps."
        ),
        keywords=_stems(
            """equation* theorem* proof proofs prove proves proving lemma* corollar* axiom*
            integer* prime primes polynomial* derivative* differentiab* differential*
            integral* integrat* matrix matrices vector* scalar* eigen* probabilit* geometr*
            triangle* angle angles algebra* calculus arithmetic* fraction* denominator*
            numerator* divisib* divisor* modulo modular exponent* exponential* logarithm*
            sqrt inequalit* combinator* permutation* factorial* sequence sequences
            convergen* diverge divergent infinite infinity asymptot* quadratic* linear
            nonlinear function functions variable* coefficient* solve solving formula*
            minimum minimize minimizing maximum maximize maximizing optimization optimize
            optimizing optimal optimum convex* gradient* statistic* variance deviation*
            median regression* sum sums summation radius diameter circle circles parabola*
            hyperbol* trigonometr* sine cosine tangent* theta sigma lambda epsilon dimension
            dimensional orthogonal* symmetr* subset* graph graphs numerical interpolat*
            polygon* perimeter* hypotenuse rectangle* cube cubes digit digits real-valued
            rational irrational"""
        ),
    ),
    "code": DomainLexicon(
        description=(
            "Programming and software: source code, functions, data structures, algorithms, "
            "libraries and APIs, with explanations of how the code works."
        ),
        keywords=_stems(
            """code coding programming programmer* python* numpy scipy pandas matplotlib
            subplot* java javascript typescript rust golang compile compiler* compiling
            compiled interpreter function functions method methods object-oriented module*
            import imports imported importing library libraries api apis parameter*
            variable* array arrays list lists tuple* dict dicts dictionary dictionaries
            string strings integer* float floats floating boolean* loop loops iterat*
            recursi* algorithm* runtime* syntax debug* exception exceptions attribute*
            constructor* inherit* callback* thread threads threading multiprocessing memory
            allocat* pointer* refactor* repositor* git commit commits script* shell bash
            terminal install* index indices dtype* ndarray* dataframe* pip conda
            virtualenv venv jupyter ipython sql query queries database* stack stacks queue*
            hash hashes hashing hashmap node nodes sorting sorted binary benchmark*
            optimization vectoriz* datatype* struct structs json yaml http https server
            servers kernel* cpu gpu docker* container* linux unix regex compiler
            developer* framework* backend frontend source-code debugger* traceback
            stdout stderr"""
        ),
    ),
    "science": DomainLexicon(
        description=(
            "Natural science: physics, chemistry, biology, earth and space science, "
            "experiments, measurements and the mechanisms that explain them."
        ),
        keywords=_stems(
            """scien* physic* chemi* biolog* experiment* hypothes* theory theories
            measurement* observation* energy energies velocit* acceleration* momentum gravit*
            temperature* thermal* thermodynamic* entropy wave waves frequenc* wavelength*
            spectr* photon* electron* proton* neutron* atom atoms atomic molecul* ion ions
            ionic isotop* nucle* quantum particle* radiation* electric* magnet* voltage*
            circuit* compound compounds element elements acid acids alkal* solute* solvent*
            concentration* molar* molecule* covalent oxid* catalys* enzyme* protein* cell
            cells cellular gene genes genetic* genom* dna rna chromosom* organism* species
            evolution* bacteri* virus viruses viral tissue* organ organs neuron* hormone*
            metaboli* photosynthe* ecosystem* planet* orbit* stellar galax* solar
            telescope* laborator* microscop* density viscos* fluid* diffusion* equilibri*
            kinetic* mass joule* newton* kelvin celsius reactant* exothermic endothermic
            stoichiometr* mole moles titration* buffer* anatom* physiolog* muscle* bone bones
            skelet* blood nerve nerves nervous artery arteries arterial vein veins venous
            cardiac spinal kidney* renal liver hepat* lung lungs pulmonary epitheli*
            membrane* receptor* gland* plasma immun* ligament* tendon* cartilage* secretion*
            synap* cortex cortical vertebra* osmo* glucose insulin lipid* amino"""
        ),
    ),
    "cyber": DomainLexicon(
        description=(
            "Cybersecurity: vulnerabilities, attacks and defenses, cryptography, "
            "authentication, malware, network and application security, threat analysis "
            "and incident response."
        ),
        keywords=_stems(
            """security cybersecurity secure securing attack attacks attacker* vulnerab*
            exploit* malware* malicious encrypt* decrypt* cipher* cryptograph* crypto
            authenticat* authoriz* password* passphrase* credential* token tokens session
            sessions injection* xss csrf ssrf sqli phishing* firewall* intrusion* threat
            threats payload* privilege* escalat* ransomware* botnet* ddos tls ssl
            certificate* hash hashes hashing hashed salt salted hmac signature* key keys
            keystore* sandbox* forensic* incident* breach* mitigat* hacker* hacking spoof*
            mitm backdoor* trojan* rootkit* worm worms antivirus* cve cwe owasp pentest*
            penetration adversar* reconnaissance exfiltrat* persistence obfuscat* audit*
            sanitiz* validation cors csp sso oauth* saml jwt kerberos ldap acl acls
            permission* unauthori* compromised detection monitoring logging siem ids ips
            vpn proxy proxies dns spam fraud* leak leaks leaked zero-day patch patches
            patching remediat* harden* vulnerability cookie cookies header headers
            input user-supplied"""
        ),
    ),
}
