"""The lexical rules of Stanford CoreNLP 3.4.1's PTBLexer (the jar pycocoevalcap runs), as Python regexes.

A port of `PTBLexer.flex` at tag v3.4.1 (rule order, macros and actions), with the options
`PTBTokenizer -preserveLines -lowerCase` leaves on: ptb3Escaping (brackets as -LRB- etc., LaTeX
quotes, `--` dashes, `...` ellipses, fraction and currency normalisation) and the traditional (not
strict) Treebank-3 state. JFlex semantics that the scanner in `vipet.eval.ptb` reproduces:

- the longest match wins, the earlier rule on a tie; for a rule `main/context` the context counts
  in the length but is not consumed. Every alternation whose branches could match different lengths
  is written as separate `Rule`s with the same `order`, so Python's first-branch-wins never picks a
  shorter branch than JFlex would;
- `%caseless` applies to literal text and never inside character classes (`[A-Z]` stays upper
  case): literals are wrapped in `(?i:...)`, classes are left as the grammar writes them;
- `[:letter:]`, `[:digit:]` and `[:uppercase:]` are Java's `Character.isLetter/isDigit/isUpperCase`
  over UTF-16 code units: built here from Unicode categories over the Basic Multilingual Plane;
  characters beyond it (two surrogates in Java) match no rule and are deleted as untokenizable.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Callable


def _category_class(prefixes: tuple[str, ...]) -> str:
    """A regex character-class body of the BMP characters whose category starts with one of `prefixes`."""
    ranges: list[tuple[int, int]] = []
    for code in range(0x10000):
        if 0xD800 <= code <= 0xDFFF or not unicodedata.category(chr(code)).startswith(prefixes):
            continue
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1] = (ranges[-1][0], code)
        else:
            ranges.append((code, code))
    return "".join(re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in ranges)


_JLETTER = _category_class(("L",))  # [:letter:]
_JDIGIT = _category_class(("Nd",))  # [:digit:]
_JUPPER = _category_class(("Lu",))  # [:uppercase:]

L = f"[{_JLETTER}]"
D = f"[{_JDIGIT}\u07c0-\u07c9]"  # DIGIT
UPPER = f"[{_JUPPER}]"
_LETTER_EXTRA = (
    "\u00ad\u0237-\u024f\u02c2-\u02c5\u02d2-\u02df\u02e5-\u02ff\u0300-\u036f\u0370-\u037d\u0384\u0385\u03cf\u03f6"
    "\u03fc-\u03ff\u0483-\u0487\u04cf\u04f6-\u04ff\u0510-\u0525\u055a-\u055f\u0591-\u05bd\u05bf\u05c1\u05c2\u05c4"
    "\u05c5\u05c7\u0615-\u061a\u063b-\u063f\u064b-\u065e\u0670\u06d6-\u06ef\u06fa-\u06ff\u070f\u0711\u0730-\u074f"
    "\u0750-\u077f\u07a6-\u07b1\u07ca-\u07f5\u07fa\u0900-\u0903\u093c\u093e-\u094e\u0951-\u0955\u0962-\u0963"
    "\u0981-\u0983\u09bc-\u09c4\u09c7\u09c8\u09cb-\u09cd\u09d7\u09e2\u09e3\u0a01-\u0a03\u0a3c\u0a3e-\u0a4f"
    "\u0a81-\u0a83\u0abc-\u0acf\u0b82\u0bbe-\u0bc2\u0bc6-\u0bc8\u0bca-\u0bcd\u0c01-\u0c03\u0c3e-\u0c56\u0d3e-\u0d44"
    "\u0d46-\u0d48\u0e30-\u0e3a\u0e47-\u0e4e\u0eb1-\u0ebc\u0ec8-\u0ecd"
)
SPLET = r"&[aeiouAEIOU](?i:acute|grave|uml);"
LETTER = f"(?:[{_JLETTER}{_LETTER_EXTRA}]|{SPLET})"
LD = f"(?:{LETTER}|{D})"
JLD = f"[{_JLETTER}{_JDIGIT}]"  # ([:letter:]|[:digit:]) as THING writes it
SPACE = "[ \t\u00a0\u2000-\u200a\u3000]"
NEWLINE = "(?:\r\n|[\r\n\u2028\u2029\u000b\u000c\u0085])"
SPACENL = f"(?:{SPACE}|{NEWLINE})"
SGML = (r"<(?:[!?][A-Za-z\-][^>\r\n]*|[A-Za-z][A-Za-z0-9_:.\-]*(?:[ ]+(?:[A-Za-z][A-Za-z0-9_:.\-]*[ ]*=[ ]*"
        r"(?:'[^']*'|\"[^\"]*\")|[A-Za-z][A-Za-z0-9_:.\-]*))*[ ]*/?|/[A-Za-z][A-Za-z0-9_:.\-]*)[ ]*>")
SENTEND = f"{SPACENL}(?:{SPACENL}|{UPPER}|{SGML})"
APOS = "(?:['\u0092\u2019]|(?i:&apos;))"
APOSETC = f"(?:{APOS}|[`\u0091\u2018\u201b])"
HYPHEN = "[\\-_\u058a\u2010\u2011]"
WORD = f"{LETTER}{LD}*(?:[.!?]{LETTER}{LD}*)*"
REDAUX = f"{APOS}(?:[msdMSD]|(?i:re|ve|ll))"
SWORD = "[A-Za-z\u00ad]*[A-MO-Za-mo-z]\u00ad*"
SREDAUX = f"[nN]{APOSETC}[tT]"
NUM_SEP = "[.:,\u00ad\u066b\u066c]"
NUMBER = f"[\\-+]?(?:{D}*(?:{NUM_SEP}{D}+)+|{D}+)"
ACRO_SPECIAL = r"(?i:(?:canada|sino|korean|eu|japan|non)-u\.s|u\.s\.-(?:u\.k|u\.s\.s\.r))"
ACRO = f"(?:[A-Za-z](?:\\.[A-Za-z])*|{ACRO_SPECIAL})"
ACRO2 = f"(?:[A-Za-z](?:\\.[A-Za-z])+|{ACRO_SPECIAL})"
INSENTP = "[,;:\u3001]"
HTHING = f"[A-Za-z0-9][A-Za-z0-9.,\u00ad]*(?:-(?:{ACRO2}\\.|[A-Za-z0-9\u00ad]+))+"
THING_PART = f"(?:[dDoOlL]{APOSETC}{JLD})?{JLD}+"
THING = f"{THING_PART}(?:{HYPHEN}{THING_PART})*"
THINGA = "[A-Z]+(?:(?:[+&]|(?i:&amp;))[A-Z]+)+"
FILENAME_EXT = ("(?i:bat|bmp|class|cgi|cpp|c|dll|docx|doc|exe|gif|gz|html|htm|h|jar|java|jpeg|jpg|mov|mp3|pdf|php|pl|"
                "png|ppt|ps|py|sql|tar|txt|wav|xml|x|zip)")
ABMONTH = "Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec"
ABDAYS = "Mon|Tues|Tue|Wed|Thurs|Thu|Fri"
_ABSTATE_CI = "Ala|Ariz|Calif|Colo|Conn|Ct|Dak|Fla|Ga|Ind|Kans|Kan|Ky|Md|Mich|Minn|Mo|Mont|Neb|Nev|Okla|Penn|Tenn|Va|Vt|Wisc|Wis|Wyo"
ABSTATE = f"(?i:{_ABSTATE_CI})|Az|A(?i:rk)|D(?i:el)|I(?i:ll)|L(?i:a)|M(?i:ass)|M(?i:iss)|O(?i:re)|P(?i:a)|T(?i:ex)|W(?i:ash)"
ABCOMP = "(?i:inc|cos|co|corp)|[Pp](?:[Pp])?[tT][ye](?:[sS])?|(?i:ltd|plc|rt|bancorp|bhd|assn|univ|intl|sys)"
ABNUM = "tel|est|ext|sq"
ABPTIT = r"Jr|Sr|Bros|Ed\.D|Ph\.D|Blvd|Rd|Esq"
ABBREV1 = f"(?:(?i:{ABMONTH})|(?i:{ABDAYS})|{ABSTATE}|{ABCOMP}|(?i:{ABNUM})|(?i:{ABPTIT})|(?i:etc|al|seq|bldg))\\."
ABTITLE = ("(?i:mrs|mr|ms|drs|dr|profs|prof|sens|sen|reps|rep|attys|atty|lt|col|gen|messrs|govs|gov|adm|rev|maj|sgt|cpl|"
           "pvt|capt|ste|st|ave|pres|lieut|hon|brig|comdr|cmdr|pfc|spc|supts|supt|det|mt|ft|adj|adv|asst|assoc|ens|insp|"
           "mlle|mme|msgr|sfc)|M(?i:iss)")
ABCOMP2 = "(?i:invt|elec|natl|dept)|[mM][ft][gG]"
ABBREV4 = f"(?:{ABTITLE}|(?i:vs|alex|wm|jos|cie|a\\.k\\.a|cf|treas|ph)|{ACRO}|{ABCOMP2})"
MISCSYMBOL = ("[+%&~^|\\\\\u00a6\u00a7\u00a8\u00a9\u00ac\u00ae\u00af\u00b0-\u00b3\u00b4-\u00ba\u00d7\u00f7\u0387\u05be\u05c0"
              "\u05c3\u05c6\u05f3\u05f4\u0600-\u0603\u0606-\u060a\u060c\u0614\u061b\u061e\u066a\u066d\u0703-\u070d\u07f6"
              "\u07f7\u07f8\u0964\u0965\u0e4f\u1fbd\u2016\u2017\u2020-\u2023\u2030-\u2038\u203b\u203e-\u2042\u2044"
              "\u207a-\u207f\u208a-\u208e\u2100-\u214f\u2190-\u21ff\u2200-\u2bff\u3012\u30fb\uff01-\uff0f\uff1a-\uff20"
              "\uff3b-\uff40\uff5b-\uff65]")
_ACRONYM_NEXT = ("About|According|Additionally|After|An|A|As|At|But|Earlier|He|Her|Here|However|If|In|It|Last|Many|More|"
                 "Mr\\.|Ms\\.|Now|Once|One|Other|Our|She|Since|So|Some|Such|That|The|Their|Then|There|These|They|This|We|"
                 "When|While|What|Yet|You")
# JFlex: [A]bout -- the first letter is a class (case-sensitive), the rest a caseless literal.
ACRONYM_NEXT = "|".join(f"{w[0]}(?i:{w[1:]})" if len(w) > 1 else w for w in _ACRONYM_NEXT.split("|")) + f"|{SGML}"


@dataclass(frozen=True)
class Rule:
    """One lexer rule: `pattern` is main part + trailing context, group `m` the main part when they differ."""

    order: int
    name: str
    pattern: re.Pattern[str]
    action: Callable[[str], tuple[str | None, int]] | None = None  # main text -> (token or None, chars consumed)


def _rules() -> list[Rule]:
    out: list[Rule] = []
    order = 0

    def add(name: str, *patterns: str, action=None, context: str | None = None) -> None:
        nonlocal order
        order += 1
        for pattern in patterns:
            full = f"(?P<m>{pattern})" if context is None else f"(?P<m>{pattern})(?:{context})"
            out.append(Rule(order, name, re.compile(full), action))

    add("cpp", "(?i:c)[+][+]")
    add("csharp", "(?i:c|f)#")
    add("cannot", "(?i:cannot)", action=lambda t: (t[:3], 3))
    add("twas", "'(?i:twas)", action=lambda t: (t[:2], 2))
    add("tis", "'(?i:tis)", action=lambda t: (t[:2], 2))
    add("gonna", "(?i:gonna|gotta|lemme|gimme|wanna)", action=lambda t: (t[:3], 3))
    add("sgml", SGML, action=lambda t: (t.replace(" ", "\u00a0"), len(t)))
    add("spmdash", "&(?i:md|mdash|ndash);", "[\u0096\u0097\u2013\u2014\u2015]", action=lambda t: ("--", len(t)))
    add("spamp", "(?i:&amp;)", action=lambda t: ("&", len(t)))
    add("sppunc", "&(?i:ht|tl|ur|lr|qc|ql|qr|odq|cdq|#[0-9]+);")
    add("word_redaux", WORD, context=REDAUX, action=_soft)
    add("sword_sredaux", SWORD, context=SREDAUX, action=_soft)
    add("word", WORD, action=_soft)
    add("apoword",
        f"{APOS}[nN]{APOS}?", f"[lLdDjJ]{APOS}", f"(?i:dunkin){APOS}", f"(?i:somethin){APOS}", f"(?i:ol){APOS}",
        f"{APOS}(?i:em)", f"[A-HJ-XZn]{APOSETC}{L}{{2}}{L}*", f"{APOS}[2-9]0[sS]", f"{APOS}(?i:till?)",
        f"{L}{L}*[aeiouyAEIOUY]{APOSETC}[aeiouA-Z]{L}*", f"{APOS}(?i:cause)", r"(?i:cont'd\.?)", "(?i:'twas)",
        "(?i:nor'easter)", "(?i:c'mon)", "(?i:e'er)", "(?i:s'mores)", "(?i:ev'ry)", "(?i:li'l)", "(?i:nat'l)",
        f"(?i:o){APOSETC}(?i:o)")
    add("apoword2", f"(?i:y){APOS}", context=L)
    add("fullurl", '(?i:https?)://[^ \t\n\f\r"<>|(){}]+[^ \t\n\f\r"<>|.!?(){},-]')
    url_path = '(?:/[^ \t\n\f\r"<>|()]+[^ \t\n\f\r"<>|.!?(){},-])?'
    add("likelyurl", '(?i:www)\\.(?:[^ \t\n\f\r"<>|.!?(){},]+\\.)+[a-zA-Z]{2,4}' + url_path,
        '(?:[^ \t\n\f\r"`\'<>|.!?(){},-_$]+\\.)+(?i:com|net|org|edu)' + url_path)
    add("email", '(?:(?i:&lt;)|<)?[a-zA-Z0-9][^ \t\n\f\r"<>|()\u00a0{}]*@(?:[^ \t\n\f\r"<>|(){}.\u00a0]+\\.)*'
        '[^ \t\n\f\r"<>|(){}.\u00a0]+(?:(?i:&gt;)|>)?')
    add("twitter", "@[a-zA-Z_][a-zA-Z_0-9]*", f"#{LETTER}+")
    add("redaux_ctx", REDAUX, context="[^A-Za-z]", action=_quotes_right)
    add("sredaux_ctx", SREDAUX, context="[^A-Za-z]", action=_quotes_right)
    add("date", f"{D}{{1,2}}[\\-/]{D}{{1,2}}[\\-/]{D}{{2,4}}")
    add("number", NUMBER, action=_soft)
    add("subsupnum", "[\u207a\u207b\u208a\u208b]?(?:[\u2070\u00b9\u00b2\u00b3\u2074-\u2079]+|[\u2080-\u2089]+)")
    add("frac", f"(?:{D}{{1,4}}[\\- \u00a0])?{D}{{1,4}}(?:\\\\?/|\u2044){D}{{1,4}}",
        action=lambda t: (t.replace(" ", "\u00a0"), len(t)))
    add("frac2", "[\u00bc\u00bd\u00be\u2153-\u215e]", action=_fraction)
    add("tbspec", "-(?i:rrb|lrb|rcb|lcb|rsb|lsb)-", r"(?i:c\.d\.s)", "(?i:pro-)", "(?i:anti-)",
        "(?i:s(?:&|&amp;)p-500)", "(?i:s(?:&|&amp;)ls)", f"(?i:cap){APOS}(?i:n)", f"(?i:c){APOS}(?i:est)",
        action=_amp)
    add("thing3", "[A-Za-z0-9]+(?:-[A-Za-z]+){0,2}(?:\\\\?/[A-Za-z0-9]+(?:-[A-Za-z]+){0,2}){1,2}")
    add("dolsign", "[A-Z]*\\$", "#")
    add("dolsign2", "[\u00a2\u00a3\u00a4\u00a5\u0080\u20a0\u20ac\u060b\u0e3f\u20a4\uffe0\uffe1\uffe5\uffe6]", action=_currency)
    add("acronym_ctx", f"{ACRO}\\.", context=f"{SPACENL}+(?:{ACRONYM_NEXT}){SPACENL}", action=_acronym)
    add("abbrev3_ctx", "(?i:ca|figs|fig|prop|nos|no|art|bldg|pp|op)\\.", context=f"{SPACENL}?[{_JDIGIT}]")
    add("pty_ctx", "(?:(?i:pt)[eyEY]|(?i:co))\\.", context=f"{SPACE}(?i:ltd|lim)")
    add("abbrev1_sentend", ABBREV1, context=SENTEND, action=_period_again)
    add("abbrev1_ctx", ABBREV1, context="[\\s\\S][\\s\\S]")
    add("abbrev1_eof", ABBREV1, action=_period_again)
    add("abbrev2", f"{ABBREV4}\\.")
    add("abbrev4_ctx", ABBREV4, context=SPACE)
    add("acro_ctx", ACRO, context=SPACENL)
    add("tbspec2_ctx", f"{APOS}[0-9][0-9]", context=SPACENL)
    add("filename_ctx", f"{LD}+(?:[.]{LD}+)*[.]{FILENAME_EXT}", context=f"(?:{SPACENL}|[.?!,])")
    add("word_dot_ctx", f"{WORD}\\.", context=INSENTP, action=_soft)
    add("phone", f"\\([0-9]{{2,3}}\\)[ \u00a0]?[0-9]{{3,4}}[\\- \u00a0]?[0-9]{{3,5}}",
        f"(?:\\+\\+?)?(?:[0-9]{{2,4}}[\\- \u00a0])?[0-9]{{2,4}}[\\- \u00a0][0-9]{{3,4}}[\\- \u00a0]?[0-9]{{3,5}}",
        "(?:(?:\\+\\+?)?[0-9]{2,4}\\.)?[0-9]{2,4}\\.[0-9]{3,4}\\.[0-9]{3,5}", action=_phone)
    add("dblquot_left", '"|(?i:&quot;)', context="[A-Za-z0-9$]", action=_quotes_left)
    add("dblquot", '"|(?i:&quot;)', action=_quotes_right)
    add("del", "\x7f", action=lambda t: (None, len(t)))
    add("lessthan", "<|(?i:&lt;)", action=lambda t: ("<", len(t)))
    add("greaterthan", ">|(?i:&gt;)", action=lambda t: (">", len(t)))
    add("smiley", "[<>]?[:;=][\\-o*']?[()DPdpO\\\\{@|\\[\\]]", context="[^A-Za-z0-9]", action=_parens)
    add("asiansmiley", "[\\^x=~<>]\\.\\[\\^x=~<>\\]", "[\\-\\^x=~<>']_[\\-\\^x=~<>']",
        "\\([\\-\\^x=~<>'][_.]?[\\-\\^x=~<>']\\)", "\\([\\^x=~<>']-[\\^x=~<>'`]\\)", action=_parens)
    for char, token in (("{", "-LCB-"), ("}", "-RCB-"), ("[", "-LSB-"), ("]", "-RSB-"), ("(", "-LRB-"), (")", "-RRB-")):
        add("bracket", re.escape(char), action=lambda t, token=token: (token, 1))
    add("hyphens", "-+", action=lambda t: ("--" if 3 <= len(t) <= 4 else t, len(t)))
    add("ldots", "\\.{3,5}", "(?:\\.[ \u00a0]){2,4}\\.", "[\u0085\u2026]", action=lambda t: ("...", len(t)))
    add("fnmarks", "@+", "#+", "_+")
    add("asts", "\\*+", "(?:\\\\\\*){1,3}")
    add("insentp", INSENTP)
    add("qmarks", "[?!]+")
    add("period", "[.\u00a1\u00bf\u037e\u0589\u061f\u06d4\u0700-\u0702\u07fa\u3002]")
    add("equals", "=")
    add("slash", "/")
    add("hthing_dot_ctx", f"{HTHING}\\.", context=INSENTP, action=_soft)
    add("hthing", HTHING, action=_soft)
    add("thing_dot_ctx", f"{THING}\\.", context=INSENTP)
    add("thing", THING)
    add("thinga_dot_ctx", f"{THINGA}\\.", context=INSENTP, action=_amp)
    add("thinga", THINGA, action=_amp)
    add("quote_left_ctx", "'", context="[A-Za-z][^ \t\n\r\u00a0]", action=_quotes_left)
    add("redaux", REDAUX, action=_quotes_right)
    add("sredaux", SREDAUX, action=_quotes_right)
    add("quotes", APOS, "''", "[`\u2018\u2019\u201a\u201b\u201c\u201d\u0091\u0092\u0093\u0094\u201e\u201f\u2039\u203a\u00ab\u00bb]{1,2}",
        action=_quotes_right)
    add("fakeduckfeet", "<<|>>")
    add("miscsymbol", MISCSYMBOL)
    add("space", f"\x00|{SPACE}+|[\u200b\u200e\u200f\ufeff]", action=lambda t: (None, len(t)))
    add("newline", NEWLINE, action=lambda t: (None, len(t)))
    add("nbsp", "(?i:&nbsp;)", action=lambda t: (None, len(t)))
    add("untokenizable", "[^\n]", action=lambda t: (None, len(t)))
    return out


def _soft(text: str) -> tuple[str, int]:
    """removeSoftHyphens: U+00AD dropped, a token of soft hyphens only becomes `-`."""
    return (text.replace("\u00ad", "") or "-"), len(text)


def _amp(text: str) -> tuple[str, int]:
    return re.sub("(?i:&amp;)", "&", text), len(text)


def _parens(text: str) -> tuple[str, int]:
    return text.replace("(", "-LRB-").replace(")", "-RRB-"), len(text)


def _phone(text: str) -> tuple[str, int]:
    return _parens(text.replace(" ", "\u00a0"))[0], len(text)


_FRACTIONS = {"\u00bc": "1/4", "\u00bd": "1/2", "\u00be": "3/4", "\u2153": "1/3", "\u2154": "2/3"}


def _fraction(text: str) -> tuple[str, int]:
    return _FRACTIONS.get(text, text), len(text)


def _currency(text: str) -> tuple[str, int]:
    return re.sub("[\u0080\u00a4\u20a0\u20ac]", "$", text.replace("\u00a2", "cents").replace("\u00a3", "#")), len(text)


def _latex_quotes(text: str, probably_left: bool) -> str:
    text = re.sub("(?i:&apos;)|'", "`" if probably_left else "'", text)
    text = re.sub('"|(?i:&quot;)', "``" if probably_left else "''", text)
    text = re.sub("[\u0091\u2018\u201b\u2039]", "`", text)
    text = re.sub("[\u0092\u2019\u203a]", "'", text)
    text = re.sub("[\u0093\u201c\u00ab]", "``", text)
    return re.sub("[\u0094\u201d\u00bb]", "''", text)


def _quotes_left(text: str) -> tuple[str, int]:
    return _latex_quotes(text, True), len(text)


def _quotes_right(text: str) -> tuple[str, int]:
    return _latex_quotes(text, False), len(text)


def _acronym(text: str) -> tuple[str, int]:
    """An acronym before a sentence-starting word: "I." gives "I" then "."; "U.S." gives "U.S." then "."."""
    if len(text) == 2:
        return text[:1], 1
    return text, len(text) - 1


def _period_again(text: str) -> tuple[str, int]:
    """An ABBREV1 abbreviation at a sentence end: the token keeps its period, and the period is read again."""
    return text, len(text) - 1


RULES: list[Rule] = _rules()
