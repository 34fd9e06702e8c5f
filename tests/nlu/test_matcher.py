from pathlib import Path

import pytest

from voicebot.nlu.grammar import Grammar, Intent, load_grammars, merge_grammars, merge_synonyms
from voicebot.nlu.matcher import IntentMatcher, IntentScore, phrases_for, stem
from voicebot.nlu.normalize import normalize

GRAMMARS = Path(__file__).resolve().parents[2] / "grammars"

# None of these is a phrase of the demo grammars (checked below): they test generalisation.
PARAPHRASES = [
    ("I'd like to know how much is in my account", "check_balance"),
    ("how much money is left in my savings", "check_balance"),
    ("what's my available funds", "check_balance"),
    ("give me the balance of my checking", "check_balance"),
    ("balance please", "check_balance"),
    ("what do I have in my account", "check_balance"),
    ("chek my ballance", "check_balance"),
    ("what did I spend recently", "recent_transactions"),
    ("show me my last purchases", "recent_transactions"),
    ("what were my last few purchases", "recent_transactions"),
    ("I want to review my account history", "recent_transactions"),
    ("did my deposit come through", "recent_transactions"),
    ("what have I been charged for lately", "recent_transactions"),
    ("what did I buy last week", "recent_transactions"),
    ("someone stole my card", "report_lost_card"),
    ("I can't find my debit card", "report_lost_card"),
    ("my credit card has been stolen", "report_lost_card"),
    ("I think I lost my wallet with my card in it", "report_lost_card"),
    ("please freeze my debit card", "report_lost_card"),
    ("my wallet is gone", "report_lost_card"),
    ("can I talk to a real person", "speak_to_agent"),
    ("representative please", "speak_to_agent"),
    ("transfer me to customer service", "speak_to_agent"),
    ("I want to speak with a human being", "speak_to_agent"),
    ("put me through to an operator", "speak_to_agent"),
    ("speak to an advisor", "speak_to_agent"),
    ("say that again", "repeat"),
    ("sorry can you repeat", "repeat"),
    ("I didn't hear that", "repeat"),
    ("go back to the start", "main_menu"),
    ("take me to the main menu", "main_menu"),
    ("start from the beginning", "main_menu"),
    ("that's all thanks bye", "goodbye"),
    ("I'm all done thank you", "goodbye"),
    ("nothing more thanks", "goodbye"),
    ("ok bye", "goodbye"),
    ("what are my choices", "help"),
    ("I need assistance", "help"),
    ("yeah sure", "yes"),
    ("yes that's correct", "yes"),
    ("no that's not right", "no"),
    ("nope not at all", "no"),
]

OUT_OF_DOMAIN = [
    "the weather is nice today",
    "purple elephant",
    "book a flight to london",
    "tell me a joke",
    "what time is it",
    "I want to apply for a mortgage",
    "my dog ate my homework",
    "how is the weather in paris",
    "how much is a coffee",
    "I lost my keys",
    "I want to open a new account",
    "play some music",
    "is it going to rain tomorrow",
    "what is the capital of france",
]


@pytest.fixture(scope="module")
def grammars() -> dict[str, Grammar]:
    return load_grammars(GRAMMARS)


@pytest.fixture(scope="module")
def intents(grammars: dict[str, Grammar]) -> dict[str, Intent]:
    return merge_grammars(grammars.values())


@pytest.fixture(scope="module")
def matcher(grammars: dict[str, Grammar], intents: dict[str, Intent]) -> IntentMatcher:
    return IntentMatcher(intents.values(), merge_synonyms(grammars.values()))


def test_paraphrases_are_not_grammar_phrases(intents: dict[str, Intent]) -> None:
    known = {normalize(p) for p in phrases_for(intents.values())}
    assert [text for text, _ in PARAPHRASES if normalize(text) in known] == []


@pytest.mark.parametrize(("text", "intent"), PARAPHRASES)
def test_paraphrase_matches(matcher: IntentMatcher, text: str, intent: str) -> None:
    hit = matcher.match(text)
    assert hit is not None, matcher.rank(text, limit=3)
    assert hit.name == intent, matcher.rank(text, limit=3)


@pytest.mark.parametrize("text", OUT_OF_DOMAIN)
def test_out_of_domain_does_not_match(matcher: IntentMatcher, text: str) -> None:
    assert matcher.match(text) is None, matcher.rank(text, limit=3)
    assert all(score.score < matcher.threshold for score in matcher.rank(text, limit=20))


@pytest.mark.parametrize(
    ("text", "intent"),
    [("balance", "check_balance"), ("agent", "speak_to_agent"), ("operator", "speak_to_agent"),
     ("yes", "yes"), ("no", "no"), ("help", "help"), ("repeat", "repeat"), ("goodbye", "goodbye"),
     ("Main menu.", "main_menu"), ("Check my balance!", "check_balance")],
)
def test_grammar_phrases_match_exactly(matcher: IntentMatcher, text: str, intent: str) -> None:
    assert matcher.match(text) == IntentScore(intent, 1.0)


def test_every_grammar_phrase_matches_its_own_intent(
    matcher: IntentMatcher, intents: dict[str, Intent]
) -> None:
    wrong = [(p, i.name, matcher.match(p)) for i in intents.values() for p in i.phrases
             if (hit := matcher.match(p)) is None or hit.name != i.name]
    assert wrong == []


def test_mixed_initiative_digits_do_not_hurt_the_intent(matcher: IntentMatcher) -> None:
    for text in ("balance for account 4417 0923", "balance on four four one seven oh nine two three"):
        hit = matcher.match(text)
        assert hit is not None and hit.name == "check_balance"


@pytest.mark.parametrize("text", ["absolutely not", "I don't want an agent", "of course not"])
def test_negated_utterance_does_not_match_an_affirmative_phrase(matcher: IntentMatcher, text: str) -> None:
    assert matcher.match(text) is None, matcher.rank(text, limit=3)


def test_leading_no_answers_the_prompt(matcher: IntentMatcher) -> None:
    hit = matcher.match("no I want an agent")
    assert hit is not None and hit.name == "speak_to_agent"


def test_rank_is_an_ordered_n_best(matcher: IntentMatcher, intents: dict[str, Intent]) -> None:
    ranked = matcher.rank("I lost my card can I speak to an agent", limit=len(intents))
    # Both requests are in the utterance: both lead the n-best, well ahead of the rest.
    assert {s.name for s in ranked[:2]} == {"report_lost_card", "speak_to_agent"}
    assert ranked[1].score > ranked[2].score + 0.3
    assert [s.score for s in ranked] == sorted((s.score for s in ranked), reverse=True)
    assert {s.name for s in ranked} == set(intents)
    assert all(0.0 <= s.score <= 1.0 for s in ranked)


def test_rank_limit(matcher: IntentMatcher) -> None:
    assert len(matcher.rank("check my balance")) == 5
    assert len(matcher.rank("check my balance", limit=2)) == 2
    assert matcher.rank("check my balance", limit=0) == []
    assert matcher.rank("check my balance", limit=1)[0] == IntentScore("check_balance", 1.0)


def test_allowed_restricts_and_every_allowed_intent_is_ranked(matcher: IntentMatcher) -> None:
    allowed = ["speak_to_agent", "goodbye", "no_such_intent"]
    ranked = matcher.rank("check my balance", allowed=allowed, limit=10)
    assert sorted(s.name for s in ranked) == ["goodbye", "speak_to_agent"]
    assert matcher.match("check my balance", allowed=allowed) is None
    assert matcher.match("check my balance", allowed={"check_balance"}) == IntentScore("check_balance", 1.0)
    assert matcher.rank("check my balance", allowed=[]) == []


def test_allowed_picks_the_best_remaining_intent(matcher: IntentMatcher) -> None:
    text = "I lost my card can I speak to an agent"
    only_card = matcher.match(text, allowed=["report_lost_card", "check_balance"])
    only_agent = matcher.match(text, allowed=["speak_to_agent", "check_balance"])
    assert only_card is not None and only_card.name == "report_lost_card"
    assert only_agent is not None and only_agent.name == "speak_to_agent"


def test_threshold(intents: dict[str, Intent], grammars: dict[str, Grammar]) -> None:
    synonyms = merge_synonyms(grammars.values())
    assert IntentMatcher(intents.values(), synonyms).threshold == 0.72
    strict = IntentMatcher(intents.values(), synonyms, threshold=0.999)
    assert strict.threshold == 0.999
    assert strict.match("someone stole my card") is None
    assert strict.match("stolen card") == IntentScore("report_lost_card", 1.0)


def test_empty_and_punctuation_only_input(matcher: IntentMatcher) -> None:
    for text in ("", "   ", "?!"):
        assert matcher.match(text) is None
        assert all(s.score == 0.0 for s in matcher.rank(text))


def test_synonyms_are_optional_and_phrases_drive_matching() -> None:
    pay = Intent("pay_bill", ("pay a bill", "make a payment"), None, (), "test")
    transfer = Intent("transfer", ("transfer money", "move money between accounts"), None, (), "test")
    matcher = IntentMatcher([pay, transfer])
    hit = matcher.match("I'd like to pay my electricity bill")
    assert hit is not None and hit.name == "pay_bill"
    assert matcher.match("move some money to savings") is not None
    assert matcher.match("purple elephant") is None


def test_synonyms_map_variants_to_canonical_words() -> None:
    balance = Intent("check_balance", ("balance",), None, (), "test")
    plain = IntentMatcher([balance])
    with_synonyms = IntentMatcher([balance], {"balance": ["funds", "money left"]})
    assert plain.match("money left") is None
    assert with_synonyms.match("money left") == IntentScore("check_balance", 1.0)
    assert with_synonyms.match("funds") == IntentScore("check_balance", 1.0)


def test_phrases_for_lists_every_phrase_once() -> None:
    a = Intent("a", ("one", "two"), None, (), "g")
    b = Intent("b", ("two", "three"), None, (), "g")
    assert phrases_for([a, b]) == ("one", "two", "three")
    assert phrases_for([]) == ()


@pytest.mark.parametrize(
    ("words", "same"),
    [(("transactions", "transaction"), True), (("spending", "spend"), True), (("stolen", "steal"), True),
     (("charged", "charges"), True), (("recently", "recent"), True), (("checking", "check"), False)],
)
def test_stem(words: tuple[str, str], same: bool) -> None:
    assert (stem(words[0]) == stem(words[1])) is same


def test_an_utterance_with_a_phrase_s_content_words_and_other_function_words_matches(
        matcher: IntentMatcher) -> None:
    # "no thanks" cut short by the endpointer and heard as "no think" ("think" says nothing here).
    hit = matcher.match("no think", allowed=["yes", "no", "goodbye"])
    assert hit is not None and hit.name == "no" and hit.score >= 0.9
    assert matcher.match("think", allowed=["yes", "no", "goodbye"]) is None
