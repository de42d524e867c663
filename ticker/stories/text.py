"""Russian headline text as the matcher reads it: lemmas with aliases folded, numbers with their kind,
names (capitalised words, abbreviations, quoted names) and the verbs that mark a comment or a denial.

Lemmas come from pymorphy3 with its Russian dictionaries (loaded once, on first use); every word's
analysis is cached, since news headlines repeat their vocabulary.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, lru_cache

import pymorphy3

# One canonical lemma for the names of one body. Keys are lemma sequences (space-joined) as pymorphy3
# gives them; the longest match wins.
ALIASES: dict[str, str] = {
    "цб": "цб",
    "цб рф": "цб",
    "банк россия": "цб",
    "центробанк": "цб",
    "центробанк россия": "цб",
    "центральный банк": "цб",
    "центральный банк россия": "цб",
    "регулятор": "цб",
    "мегарегулятор": "цб",
    "финансовый регулятор": "цб",
    "европейский центральный банк": "ецб",  # not the ЦБ: the longest match wins
    "ецб": "ецб",
    "антимонопольный регулятор": "фас",
    "фас": "фас",
    "госдеп": "госдеп",
    "госдепартамент": "госдеп",
    "государственный департамент": "госдеп",
    "роскомнадзор": "ркн",
    "ркн": "ркн",
    "минфин": "минфин",
    "министерство финансы": "минфин",
    "минфин россия": "минфин",
    "министерство оборона": "минобороны",
    "минобороны": "минобороны",
    "оборонное ведомство": "минобороны",
    "мид": "мид",
    "министерство иностранный дело": "мид",
    "внешнеполитический ведомство": "мид",
    "мвд": "мвд",
    "министерство внутренний дело": "мвд",
    "сша": "сша",
    "штат": "сша",
    "соединить штат": "сша",
    "соединённый штат": "сша",
    "соединенный штат": "сша",
    "америка": "сша",
    "американский": "сша",
    "вашингтон": "сша",
    "рф": "россия",
    "россия": "россия",
    "российский": "россия",
    "российский федерация": "россия",
    "москва": "москва",
    "столица": "москва",
    "столичный": "москва",
    "московский": "москва",
    "ес": "ес",
    "евросоюз": "ес",
    "европейский союз": "ес",
    "госдума": "госдума",
    "государственный дума": "госдума",
    "дума": "госдума",
    "депутат госдума": "госдума",
    "ск": "ск",
    "скр": "ск",
    "следственный комитет": "ск",
    "следком": "ск",
    "генпрокуратура": "генпрокуратура",
    "генеральный прокуратура": "генпрокуратура",
    "украина": "украина",
    "украинский": "украина",
    "киев": "украина",
    "великобритания": "великобритания",
    "британия": "великобритания",
    "британский": "великобритания",
    "лондон": "великобритания",
    "белоруссия": "белоруссия",
    "беларусь": "белоруссия",
    "белорусский": "белоруссия",
    "минск": "белоруссия",
    "германия": "германия",
    "фрг": "германия",
    "немецкий": "германия",
    "берлин": "германия",
    "франция": "франция",
    "французский": "франция",
    "париж": "франция",
    "китай": "китай",
    "кнр": "китай",
    "китайский": "китай",
    "пекин": "китай",
    "япония": "япония",
    "японский": "япония",
    "токио": "япония",
    "турция": "турция",
    "турецкий": "турция",
    "анкара": "турция",
    "сирия": "сирия",
    "сирийский": "сирия",
    "дамаск": "сирия",
    "кремль": "кремль",
    "администрация президент": "кремль",
    "путин": "путин",
    "президент россия": "путин",
    "российский лидер": "путин",
    "глава государство": "путин",
    "рубль": "рубль",
    "руб": "рубль",
    "р": "рубль",
    "доллар": "доллар",
    "долл": "доллар",
    "евро": "евро",
    "процент": "%",
    "%": "%",
    "ключевой ставка": "ставка",
    "учётный ставка": "ставка",
    "учетный ставка": "ставка",
    "повысить": "повысить",
    "поднять": "повысить",
    "увеличить": "повысить",
    "понизить": "снизить",
    "снизить": "снизить",
    "уменьшить": "снизить",
    "сократить": "снизить",
    "погибнуть": "погибнуть",
    "жертва": "погибнуть",
    "погибший": "погибнуть",
    "гибель": "погибнуть",
    "умереть": "погибнуть",
    "скончаться": "погибнуть",
    "пострадать": "пострадать",
    "пострадавший": "пострадать",
    "ранить": "пострадать",
    "раненый": "пострадать",
}
_ALIAS_NAMES_ONLY = {"штат"}  # "Штаты" are the USA, "штат" a state or a staff
_ALIAS_MAX_WORDS = max(len(k.split()) for k in ALIASES)

# Scale words after a number: "10 млрд", "2,1 тысячи".
SCALES: dict[str, int] = {
    "тыс": 10**3,
    "тысяча": 10**3,
    "млн": 10**6,
    "миллион": 10**6,
    "млрд": 10**9,
    "миллиард": 10**9,
    "трлн": 10**12,
    "триллион": 10**12,
}
NUMBER_WORDS: dict[str, float] = {
    "два": 2,
    "три": 3,
    "четыре": 4,
    "пять": 5,
    "шесть": 6,
    "семь": 7,
    "восемь": 8,
    "девять": 9,
    "десять": 10,
    "двое": 2,
    "трое": 3,
    "четверо": 4,
    "пятеро": 5,
    "полтора": 1.5,
    "сто": 100,
    "двадцать": 20,
    "тридцать": 30,
    "сорок": 40,
    "пятьдесят": 50,
}
# What a number counts, from the word after it; a changed figure of these kinds is a changed fact.
KEY_UNITS = {"%", "рубль", "доллар", "евро", "ставка"}

# A report of what someone said about an event, and a denial, are other stories than the event.
COMMENT_LEMMAS = frozenset({"объяснить", "пояснить", "прокомментировать", "комментарий", "комментировать"})
DENIAL_LEMMAS = frozenset(
    {"опровергнуть", "опровергать", "опровержение", "отвергнуть", "отвергать", "отрицать"}
)
NEGATION_LEMMAS = frozenset({"не", "нет", "ни"})
# A count that has risen ("число погибших выросло до 7") updates the event's earlier count: a toll of 5
# and one of 7 are then one story (the story definition), not a conflict of figures.
UPDATE_LEMMAS = frozenset({"вырасти", "возрасти", "увеличиться", "превысить", "достигнуть", "достичь"})

# Words that carry no event: prepositions, conjunctions, particles, pronouns (pymorphy3's tags).
_FUNCTION_POS = {"PREP", "CONJ", "PRCL", "INTJ", "NPRO"}
_PROPER = frozenset({"Name", "Surn", "Patr", "Geox", "Orgn", "Trad"})
_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[A-Za-zА-Яа-яЁё]+(?:-[A-Za-zА-Яа-яЁё]+)*|%")
_QUOTED = re.compile(r"[«\"“„]([^»\"”“]{2,60})[»\"”“]")


@dataclass(frozen=True)
class Number:
    """A figure in a headline: its value (scaled by a following "млн"/"тысяч") and whether it is a
    key figure (a percent, a sum of money, a rate) rather than a count."""

    value: float
    key: bool
    step: float  # the unit of its last written digit: 2 for "2,1 тысячи" is 100, for "50%" is 10
    unit: str = ""  # the (alias-folded) word after it: "%", "рубль", "человек"

    def __str__(self) -> str:
        for scale, word in ((10**12, " трлн"), (10**9, " млрд"), (10**6, " млн")):
            if self.value >= scale:
                return f"{self.value / scale:g}{word}{' ' + self.unit if self.unit else ''}"
        return f"{self.value:g}{self.unit if self.unit == '%' else (' ' + self.unit if self.unit else '')}"

    def agrees(self, other: Number) -> bool:
        """The same figure, allowing one to be the other rounded ("41,8%" and "42 процента")."""
        return abs(self.value - other.value) < max(self.step, other.step) * 0.999


@dataclass(frozen=True)
class Reading:
    """What the matcher reads in one text."""

    lemmas: tuple[str, ...]  # content lemmas in order, aliases folded, numbers as their value text
    names: frozenset[str]  # lemmas of capitalised words, abbreviations and quoted names
    numbers: frozenset[Number]
    comment: bool  # a report of what someone said about it ("объяснила", "прокомментировал")
    denial: bool  # a denial ("опроверг", "отверг")
    negation: bool  # "не", "нет"
    update: bool = False  # a count that has risen ("выросло до", "превысило")


@cache
def _morph() -> pymorphy3.MorphAnalyzer:
    return pymorphy3.MorphAnalyzer(lang="ru")


@lru_cache(maxsize=200_000)
def _lemma(word: str) -> tuple[str, str, bool]:
    """The lemma and part of speech of one lower-case word (the most probable analysis), and whether
    the dictionary knows it as a proper name (a person, a place, an organisation)."""
    if not re.search("[а-яё]", word):
        return word, "LATN", False
    parse = _morph().parse(word)[0]
    proper = bool(_PROPER & parse.tag.grammemes)
    return parse.normal_form.replace("ё", "е"), str(parse.tag.POS or ""), proper


def _number_value(text: str) -> tuple[float, float] | None:
    """The value of a written number and the unit of its last digit."""
    cleaned = text.replace(",", ".")
    if cleaned.count(".") > 1:  # 1.000.000 as thousands separators
        cleaned = cleaned.replace(".", "")
    try:
        value = float(cleaned)
    except ValueError:
        return None
    if "." in cleaned:
        return value, 10.0 ** -len(cleaned.split(".")[1])
    digits = cleaned.lstrip("0") or "0"
    zeros = len(digits) - len(digits.rstrip("0")) if digits != "0" else 0
    return value, 10.0**zeros


def _word_number(lemma: str) -> tuple[float, float] | None:
    value = NUMBER_WORDS.get(lemma)
    return None if value is None else (value, 1.0)


def read(text: str) -> Reading:
    """Read one headline (or lead): lemmas, names, numbers, and the comment/denial markers."""
    text = text.replace("ё", "е").replace("Ё", "Е")
    tokens = [(m.group(0), m.start()) for m in _TOKEN.finditer(text)]
    quoted = {q.strip().lower() for q in _QUOTED.findall(text)}
    words: list[tuple[str, str, bool, bool]] = []  # (lemma, pos, is a name, is capitalised)
    for i, (tok, _pos) in enumerate(tokens):
        low = tok.lower()
        if tok[0].isdigit():
            words.append((tok, "NUMB", False, False))
            continue
        lemma, pos, proper = _lemma(low)
        is_name = tok[0].isupper() and (i > 0 or proper or (len(tok) > 1 and tok.isupper()))
        words.append((lemma, pos, is_name, tok[0].isupper()))
    # Fold aliases over lemma sequences, longest first.
    lemmas: list[str] = []
    names: set[str] = set()
    numbers: set[Number] = set()
    comment = denial = negation = update = False
    i = 0
    while i < len(words):
        for n in range(min(_ALIAS_MAX_WORDS, len(words) - i), 0, -1):
            key = " ".join(w[0] for w in words[i : i + n])
            if key in ALIASES and (key not in _ALIAS_NAMES_ONLY or words[i][3]):
                canon = ALIASES[key]
                lemmas.append(canon)
                if any(w[2] for w in words[i : i + n]):
                    names.add(canon)
                i += n
                break
        else:
            lemma, pos, is_name, _ = words[i]
            nxt = words[i + 1][0] if i + 1 < len(words) else ""
            figure = _number_value(lemma) if pos == "NUMB" else _word_number(lemma)
            if figure is not None:
                value, step = figure
                scale = SCALES.get(nxt, 1)
                unit = ALIASES.get(words[i + 2][0] if scale > 1 and i + 2 < len(words) else nxt, "")
                numbers.add(
                    Number(value * scale, unit in KEY_UNITS, step * scale, unit if len(unit) < 15 else "")
                )
                lemmas.append(f"{value * scale:g}")
                i += scale > 1  # the scale word is part of the figure
            elif lemma in NEGATION_LEMMAS:
                negation = True
                lemmas.append(lemma)
            elif pos not in _FUNCTION_POS and len(lemma) > 1:
                lemmas.append(lemma)
                comment = comment or lemma in COMMENT_LEMMAS
                denial = denial or lemma in DENIAL_LEMMAS
                update = update or lemma in UPDATE_LEMMAS
                if is_name:
                    names.add(lemma)
            i += 1
    for q in quoted:
        names.update(
            ALIASES.get(_lemma(w)[0], _lemma(w)[0]) for w in re.findall(r"[a-zа-я]+", q) if len(w) > 2
        )
    return Reading(tuple(lemmas), frozenset(names), frozenset(numbers), comment, denial, negation, update)
