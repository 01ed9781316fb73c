"""Tool use: the template and its mask with tool turns (token by token), the calculator and the lookup on good and
malformed calls, the runtime inside generation (a call gets its result and the model goes on; rows that do not
call are untouched; KV cache = recomputation with an insertion; inserted tokens out of the log-probs), PPO's GAE
over a reply with a result inside, and tiny end-to-end runs of sft.py --tools, evaluate.py and ppo.py --tools."""
import json
import random

import pytest
import torch

import ppo
from data.formats import DataError, load_conversations
from data.tinyworld import (ANIMALS, PEOPLE, TOOL_TASKS, answer_of, call_is_right, gold_breakdown, gold_score,
                            parse_prompt, run_tool, tool_call, tool_conversation)
from data.tinyworld.problems import NUMBER_WORD
from data.tinyworld.facts import ANIMAL_ATTRIBUTES, PERSON_ATTRIBUTES, animal_fact, number_word, person_fact, size
from evaluate import evaluate_replies
from model import GPT, GPTConfig, pad_batch
from replies import Reply, generate_replies, reply_batch, seen_batch, tool_runtime, visible
from tokenizer import (ASSISTANT, BOS, CALL, CALL_END, END, RESULT, RESULT_END, SPECIAL_TOKENS, USER,
                       render_conversation, render_prompt, special_id)


def tool_messages(call="calc 2 plus 3", result="5", text="2 plus 3 is 5."):
    return [{"role": "user", "content": "What is 2 plus 3?"}, {"role": "call", "content": call},
            {"role": "result", "content": result}, {"role": "assistant", "content": text}]


# ----------------------------------------------------------------------------------------------------------
# the template


def test_a_tool_turn_token_by_token(tiny_enc):
    s = lambda t: special_id(tiny_enc, t)  # noqa: E731
    e = tiny_enc.encode_ordinary
    ids, mask = render_conversation(tiny_enc, tool_messages())
    expected = ([(s(BOS), 0), (s(USER), 0)] + [(t, 0) for t in e("What is 2 plus 3?")] + [(s(END), 0)]
                + [(s(ASSISTANT), 0)]
                + [(s(CALL), 1)] + [(t, 1) for t in e("calc 2 plus 3")] + [(s(CALL_END), 1)]  # the model writes
                + [(s(RESULT), 0)] + [(t, 0) for t in e(" 5")] + [(s(RESULT_END), 0)]  # the runtime writes
                + [(t, 1) for t in e("2 plus 3 is 5.")] + [(s(END), 1)])
    assert list(zip(ids, mask)) == expected
    # the prompt is the same as without tools: everything after <|assistant|> is the reply
    assert ids[: len(render_prompt(tiny_enc, "What is 2 plus 3?"))] == render_prompt(tiny_enc, "What is 2 plus 3?")


def test_two_calls_in_one_turn_and_a_second_turn(tiny_enc):
    s = lambda t: special_id(tiny_enc, t)  # noqa: E731
    messages = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"},
                {"role": "user", "content": "Q"}, {"role": "call", "content": "lookup Mia pet"},
                {"role": "result", "content": "cat"}, {"role": "call", "content": "lookup cat sound"},
                {"role": "result", "content": "meow"}, {"role": "assistant", "content": "Meow."}]
    ids, mask = render_conversation(tiny_enc, messages)
    special = {special_id(tiny_enc, t) for t in SPECIAL_TOKENS}
    specials = [(i, m) for i, m in zip(ids, mask) if i in special]
    assert specials == [(s(BOS), 0), (s(USER), 0), (s(END), 0), (s(ASSISTANT), 0), (s(END), 1), (s(USER), 0),
                        (s(END), 0), (s(ASSISTANT), 0), (s(CALL), 1), (s(CALL_END), 1), (s(RESULT), 0),
                        (s(RESULT_END), 0), (s(CALL), 1), (s(CALL_END), 1), (s(RESULT), 0), (s(RESULT_END), 0),
                        (s(END), 1)]
    # the results' tokens are exactly the ones with mask 0 inside the assistant's turn
    results = tiny_enc.encode_ordinary(" cat") + tiny_enc.encode_ordinary(" meow")  # a space first
    turn = list(zip(ids, mask))[len(render_prompt(tiny_enc, messages[:3])):]
    assert [i for i, m in turn if m == 0 and i not in special] == results


@pytest.mark.parametrize("roles,where", [
    (["user", "result", "assistant"], "message 1: a 'result' answers the 'call'"),
    (["user", "call", "assistant"], "message 1: a 'call' must be followed by its 'result'"),
    (["user", "call", "result"], "message 2: a 'result' must be followed"),
    (["user", "call", "result", "user", "assistant"], "message 2: a 'result' must be followed"),
    (["call", "result", "assistant"], "message 0: a 'call' comes after"),
    (["user", "assistant", "call", "result", "assistant"], "message 2: a 'call' comes after"),
    (["user", "tool", "assistant"], "message 1: role 'tool' is not one of"),
])
def test_tool_turns_out_of_place_are_clear_errors(tiny_enc, tmp_path, roles, where):
    messages = [{"role": r, "content": "x"} for r in roles]
    with pytest.raises(ValueError, match=where):
        render_conversation(tiny_enc, messages)
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps({"messages": tool_messages()}) + "\n" + json.dumps({"messages": messages}) + "\n")
    with pytest.raises(DataError, match=rf"c\.jsonl:2: .*{where}"):
        load_conversations(path)


def test_the_tool_demonstrations_load_and_call_where_a_tool_helps(tiny_world, tiny_enc):
    convs = load_conversations(tiny_world / "sft_tools_train.jsonl")
    records = [json.loads(line) for line in (tiny_world / "sft_tools_train.jsonl").read_text().splitlines()]
    assert {r["task"] for r in records if r["tool"]} == set(TOOL_TASKS) == {"arithmetic", "fact", "problem"}
    assert {r["task"] for r in records if not r["tool"]} >= {"greeting", "story", "unsafe", "compare"}
    for conv, record in zip(convs, records):
        prompt, text = conv[0]["content"], conv[-1]["content"]
        if record["tool"]:
            call, result = conv[1]["content"], conv[2]["content"]
            assert [m["role"] for m in conv] == ["user", "call", "result", "assistant"]
            assert result == run_tool(call) and call_is_right(prompt, call)
            assert result.lower() in text.lower()  # the reply says what the tool found
            assert gold_score(prompt, text) > 2  # and it is a right, polite answer
        ids, mask = render_conversation(tiny_enc, conv)  # every one renders
        assert sum(mask) > 0


# ----------------------------------------------------------------------------------------------------------
# the tools


@pytest.mark.parametrize("call,result", [
    ("calc 4 plus 9", "13"), ("calc 4 + 9", "13"), ("calc 4+9", "13"), ("calc seven minus one", "six"),
    ("calc 3 plus 4 minus 2", "5"), ("calc three plus four minus two plus ten", "fifteen"),
    ("calc 2 minus 5", "-3"), ("calc two minus five", "minus three"), ("calc twenty-one plus 0", "21"),
    ("calc 60 plus 50", "110"), ("calc sixty plus fifty", "110"), ("Calc 0", "0"), ("calc  8   -  8 ", "0"),
    ("lookup Mia pet", "cat"), ("lookup mia hat", "red"), ("lookup Mia's home", "town"),
    ("lookup Mia favourite thing", "kite"), ("lookup the favourite thing of Mia", "kite"),
    ("lookup cow sound", "moo"), ("lookup the sound of a cow", "moo"), ("lookup elephant size", "12"),
    ("lookup a mouse food", "cheese"), ("lookup Tom colour", "blue"),
])
def test_good_calls(call, result):
    assert run_tool(call) == result


def test_the_lookup_knows_every_fact_of_the_world():
    for name in PEOPLE:
        for attribute in PERSON_ATTRIBUTES:
            assert run_tool(f"lookup {name} {attribute}") == person_fact(name, attribute)
    for animal in ANIMALS:
        for attribute in ANIMAL_ATTRIBUTES:
            assert run_tool(f"lookup {animal} {attribute}") == animal_fact(animal, attribute)
        assert run_tool(f"lookup {animal} size") == str(size(animal))


def test_the_calculator_agrees_with_python_on_random_chains():
    rng = random.Random(0)
    for _ in range(500):
        numbers = [rng.randint(0, 99) for _ in range(rng.randint(1, 6))]
        signs = [rng.choice([1, -1]) for _ in numbers[1:]]
        words = rng.random() < 0.5
        show = number_word if words else str
        call = "calc " + show(numbers[0]) + "".join(f" {'plus' if s > 0 else 'minus'} {show(n)}"
                                                    for s, n in zip(signs, numbers[1:]))
        total = numbers[0] + sum(s * n for s, n in zip(signs, numbers[1:]))
        magnitude = number_word(abs(total)) if words and abs(total) < 100 else str(abs(total))
        expected = magnitude if total >= 0 else ("minus " if words and abs(total) < 100 else "-") + magnitude
        assert run_tool(call) == expected, call


@pytest.mark.parametrize("call,error", [
    ("calc", "calc takes"), ("calc 4 plus", "calc takes"), ("calc plus 4", "calc takes"),
    ("calc 4 plus plus 9", "calc takes"), ("calc 4 9", "calc takes"), ("calc 4 times 9", "calc takes"),
    ("calc 4 plus banana", "calc takes"), ("calc __import__('os')", "calc takes"), ("calc 2**100", "calc takes"),
    ("calc 1234567890 plus 1", "calc takes"), ("calc " + " plus ".join(["1"] * 21), "calc takes"),
    ("lookup", "lookup takes"), ("lookup Mia", "lookup takes"), ("lookup Mia pet hat", "lookup takes"),
    ("lookup Mia sound", "lookup takes"), ("lookup cow pet", "lookup takes"), ("lookup Bob pet", "no such"),
    ("lookup Mia cow", "lookup takes"), ("search Mia pet", "the tools are"), ("", "the tools are"),
    ("x" * 500, "one short line"), (None, "one short line"), (42, "one short line"),
])
def test_malformed_calls_get_an_error_result(call, error):
    result = run_tool(call)
    assert result.startswith("error: ") and error in result


def test_no_text_makes_a_tool_raise():
    rng = random.Random(1)
    pieces = ["calc", "lookup", "plus", "minus", "+", "-", "7", "seven", "Mia", "pet", "cow", "'s", "of", "the",
              "twenty-one", "\n", "", "é", "99999999999", "--", "size"]
    for _ in range(3000):
        call = " ".join(rng.choice(pieces) for _ in range(rng.randint(0, 8)))
        assert isinstance(run_tool(call), str)


def test_a_call_is_right_when_its_result_answers_the_question():
    assert call_is_right("What is 4 plus 9?", "calc 4 plus 9") and call_is_right("What is 4 plus 9?", "calc 9 + 4")
    assert call_is_right("How much is seven minus one?", "calc 7 minus 1")  # a number in either form
    assert not call_is_right("What is 4 plus 9?", "calc 4 minus 9") and not call_is_right("What is 4 plus 9?", "calc")
    assert call_is_right("What pet does Mia have?", "lookup Mia pet")
    assert not call_is_right("What pet does Mia have?", "lookup Tom pet")
    assert not call_is_right("Hello!", "calc 1 plus 1")  # no question a tool answers
    for prompt in ["What do you get if you take 3 from 9?", "Can you add four and nine?", "What does a cow say?",
                   "What is Finn's favourite thing?"]:
        assert call_is_right(prompt, tool_call(prompt))
        answer = answer_of(*parse_prompt(prompt))
        assert run_tool(tool_call(prompt)) in (answer, str(answer), number_word(answer) if isinstance(answer, int)
                                               else answer)
    assert tool_call("Which is bigger, a cow or a pig?") is None and tool_call("Hello!") is None


def test_after_a_calculation_the_demonstration_states_the_result_first_and_is_right():
    rng = random.Random(0)
    for prompt in ["What is 4 plus 9?", "How much is seven minus one?",
                   "Mia has 3 kites. Tom gives her 4 more. Then she loses 2. How many kites does Mia have now?"]:
        user, call, result, reply = tool_conversation(rng, prompt)
        assert call["content"].startswith("calc ") and result["content"] == run_tool(call["content"])
        numbers = NUMBER_WORD.findall(reply["content"].lower())
        assert numbers == [result["content"]]  # the result as the calculator wrote it, and no number of its own
        assert gold_breakdown(prompt, reply["content"])["correct"]
    user, call, result, reply = tool_conversation(rng, "What pet does Mia have?")
    assert call["content"] == "lookup Mia pet"
    assert gold_breakdown("What pet does Mia have?", reply["content"])["correct"]


def test_a_demonstration_without_a_tool_is_the_helpful_reply():
    rng = random.Random(0)
    messages = tool_conversation(rng, "Tell me a short story about a lion at the lake.")
    assert [m["role"] for m in messages] == ["user", "assistant"]


# ----------------------------------------------------------------------------------------------------------
# the runtime inside generation


def scripted(model, enc, script):
    """Make `model` write script(row, generated) wherever that returns a token (the logits of every other token set
    to -1e9), and leave its logits alone where it returns None. generated: the row's tokens after <|assistant|>,
    up to the position whose next token is predicted. The hooks read the ids the model is fed, so the script
    acts the same in a forward pass, in sampling with the KV cache and in sampling without it."""
    history = {}
    assistant = special_id(enc, ASSISTANT)

    def see_ids(module, inputs):  # prefill or recomputation: the whole rows; a cached step: one new column
        idx = inputs[0]
        history["ids"] = idx if idx.size(1) > 1 or "ids" not in history else torch.cat([history["ids"], idx], 1)

    def force(module, inputs, logits):
        logits = logits.clone()
        view = logits if logits.dim() == 3 else logits[:, None]  # (B, T, V): the last T positions of the rows
        T = view.size(1)
        for row, ids in enumerate(history["ids"].tolist()):
            start = max(i for i, t in enumerate(ids) if t == assistant) + 1
            for j in range(T):
                position = len(ids) - T + j  # its logits predict token position + 1
                token = script(row, ids[start: position + 1]) if position + 1 >= start else None
                if token is not None:
                    view[row, j] = -1e9
                    view[row, j, token] = 0.0
        return logits

    model.transformer.wte.register_forward_pre_hook(see_ids)
    model.lm_head.register_forward_hook(force)
    return model


def tiny_gpt(enc, seed=0):
    torch.manual_seed(seed)
    return GPT(GPTConfig(block_size=96, vocab_size=enc.n_vocab, n_layer=1, n_head=2, n_embd=16)).eval()


def copier(enc):
    """Row 0 calls "calc 2 plus 3", then copies the result it reads into "It is <result>." and ends; row 1 answers
    "Hello." without a call; other rows sample freely."""
    s = lambda t: special_id(enc, t)  # noqa: E731
    call = [s(CALL)] + enc.encode_ordinary("calc 2 plus 3") + [s(CALL_END)]
    hello = enc.encode_ordinary("Hello.") + [s(END)]

    def script(row, generated):
        if row == 1:
            return hello[len(generated)] if len(generated) < len(hello) else None
        if row != 0:
            return None
        if len(generated) < len(call):
            return call[len(generated)]
        if s(RESULT_END) not in generated:
            return None  # the runtime is writing the result: whatever the model wants is not used
        result = generated[generated.index(s(RESULT)) + 1: generated.index(s(RESULT_END))]
        answer = enc.encode_ordinary("It is") + result + enc.encode_ordinary(".") + [s(END)]
        done = len(generated) - generated.index(s(RESULT_END)) - 1
        return answer[done] if done < len(answer) else None

    return script


def test_a_call_gets_its_result_and_the_model_goes_on(tiny_enc):
    s = lambda t: special_id(tiny_enc, t)  # noqa: E731
    model = scripted(tiny_gpt(tiny_enc), tiny_enc, copier(tiny_enc))
    calls = []

    def tools(call):
        calls.append(call)
        return run_tool(call)

    prompts = ["What is 2 plus 3?", "Hello!", "Tell me a story."]
    r0, r1, r2 = generate_replies(model, tiny_enc, prompts, max_new_tokens=40, temperature=1.0, seed=0, tools=tools)
    e = tiny_enc.encode_ordinary
    assert calls == ["calc 2 plus 3"]  # the runtime ran the one call, with the text between the call tokens
    assert r0.reply_ids == ([s(CALL)] + e("calc 2 plus 3") + [s(CALL_END), s(RESULT)] + e(" 5") + [s(RESULT_END)]
                            + e("It is") + e(" 5") + e(".") + [s(END)])
    n_call, n_result = len(e("calc 2 plus 3")) + 2, len(e(" 5")) + 2
    assert r0.mask == [1] * n_call + [0] * n_result + [1] * (len(r0.reply_ids) - n_call - n_result)
    assert all(lp == 0 for lp, m in zip(r0.logprobs, r0.mask) if not m)  # inserted: no log-prob
    assert r0.stop == "end" and r0.text == "It is 5." and r0.calls == [("calc 2 plus 3", "5")]
    assert r0.text == tiny_enc.decode(e("It is") + e(" 5") + e("."))
    # a row that does not call is untouched by the other row's insertion
    assert r1.reply_ids == e("Hello.") + [s(END)] and r1.mask == [1] * len(r1.reply_ids) and r1.calls == []
    assert all(r2.mask)
    # the judge reads what the reader sees: the same score as the reply written without the call
    assert gold_score(prompts[0], r0.text) == gold_score(prompts[0], "It is 5.")


def test_without_tools_a_call_is_not_run_and_banned_calls_never_open(tiny_enc):
    model = scripted(tiny_gpt(tiny_enc), tiny_enc, copier(tiny_enc))
    (r0,) = generate_replies(model, tiny_enc, ["What is 2 plus 3?"], max_new_tokens=12, seed=0)
    assert special_id(tiny_enc, RESULT) not in r0.reply_ids and all(r0.mask)  # nothing inserted
    # banned: the <|call|> token is never sampled, even by a model that wants nothing else
    always_call = scripted(tiny_gpt(tiny_enc), tiny_enc, lambda row, g: special_id(tiny_enc, CALL))
    replies = generate_replies(always_call, tiny_enc, ["Hi", "What is 2 plus 3?"], max_new_tokens=10, seed=0,
                               tools=run_tool, ban_calls=True)
    assert all(special_id(tiny_enc, CALL) not in r.reply_ids for r in replies)


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_kv_cache_equals_recomputation_with_an_insertion(tiny_enc, temperature):
    """A free-sampling model that calls at its third token and closes the call at its sixth; the runtime's result
    goes in; with and without the KV cache, the same tokens, masks and log-probs."""
    s = lambda t: special_id(tiny_enc, t)  # noqa: E731

    def script(row, generated):  # even rows: <|call|> third, <|call_end|> sixth; free sampling otherwise
        if row % 2 == 0 and len(generated) in (2, 5):
            return s(CALL) if len(generated) == 2 else s(CALL_END)
        return None

    model = scripted(tiny_gpt(tiny_enc, seed=1), tiny_enc, script)
    question, hello = render_prompt(tiny_enc, "What is 2 plus 3?"), render_prompt(tiny_enc, "Hello there!")
    idx, attention = pad_batch([question, hello, question, hello], side="left")
    runtime = tool_runtime(tiny_enc, lambda call: "error: the tools are calc and lookup")
    kw = dict(temperature=temperature, attention_mask=attention, insert_after=runtime,
              stop_tokens=[s(END)])
    a = model.sample(idx, 30, generator=torch.Generator().manual_seed(5), **kw)
    b = model.sample(idx, 30, generator=torch.Generator().manual_seed(5), use_cache=False, **kw)
    assert torch.equal(a.tokens, b.tokens) and torch.equal(a.mask, b.mask)
    assert torch.equal(a.attention_mask, b.attention_mask)
    assert torch.allclose(a.logprobs, b.logprobs, atol=1e-5)
    result = [s(RESULT)] + tiny_enc.encode_ordinary(" error: the tools are calc and lookup") + [s(RESULT_END)]
    for row in (0, 2):  # the calling rows hold the result right after <|call_end|>, unsampled
        assert a.tokens[row, 6: 6 + len(result)].tolist() == result
        assert a.mask[row, 6: 6 + len(result)].tolist() == [0] * len(result)
        assert a.attention_mask[row, 6: 6 + len(result)].tolist() == [1] * len(result)
    assert (a.mask[1].sum() == a.attention_mask[1].sum()) and (a.mask[3].sum() == a.attention_mask[3].sum())


def test_inserted_tokens_stay_out_of_the_log_probs(tiny_enc):
    """The sampled log-probs, recomputed on reply_batch's layout with the results in it, at the mask-1 positions:
    equal. The results are context the model attends to, never tokens a loss counts."""
    model = scripted(tiny_gpt(tiny_enc, seed=2), tiny_enc, copier(tiny_enc))
    replies = generate_replies(model, tiny_enc, ["What is 2 plus 3?", "Hi", "Where does Mia live?"],
                               max_new_tokens=30, temperature=0.8, seed=3, tools=run_tool)
    assert replies[0].calls and 0 in replies[0].mask
    ids, attention_mask, mask, P = reply_batch(replies)
    with torch.no_grad():
        lp = model.token_logprobs(ids, attention_mask, temperature=0.8)[:, P - 1:]  # (B, T)
    for i, r in enumerate(replies):
        n = len(r.reply_ids)
        sampled = torch.tensor(r.mask, dtype=torch.bool)
        assert mask[i, :n].tolist() == r.mask
        assert torch.allclose(lp[i, :n][sampled], torch.tensor(r.logprobs)[sampled], atol=1e-4)
    # what the reader sees: the same rows without the call and the result
    seen, seen_attention = seen_batch(replies, tiny_enc)
    row = seen[0][seen_attention[0].bool()].tolist()
    assert row == replies[0].prompt_ids + tiny_enc.encode_ordinary("It is 5.") + [special_id(tiny_enc, END)]
    full, full_attention = reply_batch(replies[1:])[:2]
    assert torch.equal(seen_batch(replies[1:], tiny_enc)[0], full)  # no call: the same layout


def test_visible_parts_of_a_reply(tiny_enc):
    s = lambda t: special_id(tiny_enc, t)  # noqa: E731
    e = tiny_enc.encode_ordinary
    ids = e("Let me see.") + [s(CALL)] + e("lookup Mia pet") + [s(CALL_END), s(RESULT)] + e(" cat") + \
        [s(RESULT_END)] + e(" A cat.") + [s(CALL)] + e("calc 1")
    seen, calls = visible(ids, tiny_enc)
    assert tiny_enc.decode(seen) == "Let me see. A cat." and calls == [("lookup Mia pet", "cat"), ("calc 1", "")]


def test_evaluation_counts_calls_and_right_calls():
    def reply(prompt, text, calls):
        return Reply(prompt=prompt, prompt_ids=[], reply_ids=[0, 1], logprobs=[0.0, 0.0], mask=[1, 1], stop="end",
                     text=text, calls=calls)
    summary, judged = evaluate_replies([
        reply("What is 4 plus 9?", "4 plus 9 is 13.", [("calc 4 plus 9", "13")]),
        reply("What pet does Mia have?", "Mia has a dog.", [("lookup Tom pet", "dog")]),
        reply("What is 2 plus 2?", "2 plus 2 is 4.", []),
        reply("Hello!", "Hello! How can I help you today?", [("calc 1 plus 1", "2"), ("calc 2", "2")])])
    assert summary["tool_calls"] == 4 / 4 and summary["tool_calls_right"] == 1 / 4
    assert summary["correctness_arithmetic"] == 1.0 and summary["correctness_fact"] == 0.0
    assert [j["correct"] for j in judged] == [True, False, True, None]


# ----------------------------------------------------------------------------------------------------------
# PPO with a result inside a reply


def test_gae_skips_the_tokens_the_policy_did_not_sample():
    """GAE on a reply with a hole (a tool's result, mask 0) = GAE on the sampled tokens alone, compacted to the left,
    scattered back; 0 in the hole."""
    g = torch.Generator().manual_seed(0)
    mask = torch.tensor([[1, 1, 0, 0, 0, 1, 1, 1, 0], [1, 0, 1, 1, 0, 0, 0, 0, 0], [1, 1, 1, 1, 1, 1, 1, 1, 1.]])
    rewards, values = torch.randn(3, 9, generator=g) * mask, torch.randn(3, 9, generator=g) * mask
    for gamma, lam in [(1.0, 0.95), (0.9, 0.8)]:
        adv, ret = ppo.gae(rewards, values, mask, gamma, lam)
        for b in range(3):
            keep = mask[b].bool()
            n = int(keep.sum())
            compact = torch.zeros(1, 9), torch.zeros(1, 9), torch.zeros(1, 9)
            compact[0][0, :n], compact[1][0, :n], compact[2][0, :n] = rewards[b][keep], values[b][keep], 1.0
            c_adv, c_ret = ppo.gae(*compact, gamma, lam)
            assert torch.allclose(adv[b][keep], c_adv[0, :n], atol=1e-6)
            assert torch.allclose(ret[b][keep], c_ret[0, :n], atol=1e-6)
            assert (adv[b][~keep] == 0).all() and (ret[b][~keep] == 0).all()


def test_ppo_rollout_with_tools_scores_what_the_reader_sees(tiny_enc):
    from model import ScalarGPT
    policy = scripted(tiny_gpt(tiny_enc, seed=3), tiny_enc, copier(tiny_enc))
    torch.manual_seed(4)
    rm = ScalarGPT(policy.config).eval()
    prompts = ["What is 2 plus 3?", "Hello!", "Where does Mia live?"]
    ro = ppo.rollout(policy, policy, rm, rm, tiny_enc, prompts, max_new_tokens=30, temperature=1.0,
                     generator=torch.Generator().manual_seed(1), score_mean=0.0, score_std=1.0, device="cpu",
                     tools=run_tool)
    assert ro["calls"] == [1, 0, 0] and ro["texts"][0] == "It is 5."
    assert 0 in ro["mask"][0, : int(ro["attention_mask"][0, ro["P"]:].sum())].tolist()  # the result: a hole
    seen = render_conversation(tiny_enc, [{"role": "user", "content": prompts[0]},
                                          {"role": "assistant", "content": "It is 5."}])[0]
    assert ro["raw_scores"][0].item() == pytest.approx(rm(torch.tensor([seen]))[0, -1].item(), abs=1e-5)
    assert (ro["logprobs"][ro["mask"] == 0] == 0).all()


# ----------------------------------------------------------------------------------------------------------
# tiny end-to-end runs


def test_tiny_sft_tools_evaluate_ppo_and_grpo_with_tools(tiny_world, tiny_enc, tiny_ckpts, tmp_path):
    import evaluate
    import sft
    tools_dir = tmp_path / "sft_tools"
    metrics = sft.main(["--tools", "--data_dir", str(tiny_world), "--init", str(tiny_ckpts / "sft"), "--out_dir",
                        str(tools_dir), "--max_iters", "3", "--batch_size", "4", "--eval_interval", "3",
                        "--n_eval_prompts", "6", "--max_new_tokens", "12"])
    assert metrics["n_train"] == len((tiny_world / "sft_tools_train.jsonl").read_text().splitlines())
    assert {"sft", "sft_tools"} <= set(metrics) and "tool_calls" in metrics["sft_tools"]
    from model import load_model
    _, ckpt = load_model(tools_dir, expected_stage="sft")
    assert ckpt["train_config"]["tools"] and ckpt["train_config"]["max_iters"] == 3  # the user's option wins
    assert ckpt["train_config"]["train_file"] == "" and ckpt["train_config"]["warmup"] == 10  # TOOLS_OPTIONS
    results = evaluate.main(["--data_dir", str(tiny_world), "--checkpoints", str(tiny_ckpts / "sft"),
                             str(tools_dir), "--reference", str(tiny_ckpts / "sft"), "--out", str(tmp_path / "eval"),
                             "--n_prompts", "6", "--max_new_tokens", "12"])
    assert [r["name"] for r in results] == ["sft", "sft_tools"]
    header = (tmp_path / "eval" / "results.csv").read_text().splitlines()[0].split(",")
    assert {"tool_calls", "tool_calls_right", "correctness"} <= set(header)
    ppo.main(["--tools", "--data_dir", str(tiny_world), "--policy", str(tools_dir), "--reward_model",
              str(tiny_ckpts / "rm"), "--out_dir", str(tmp_path / "ppo_tools"), "--iters", "1", "--batch_size", "4",
              "--minibatch_size", "4", "--ppo_epochs", "1", "--max_new_tokens", "8", "--n_eval_prompts", "4"])
    log = [json.loads(line) for line in (tmp_path / "ppo_tools" / "log.jsonl").read_text().splitlines()]
    assert "tool_calls" in log[0]
    import grpo
    metrics = grpo.main(["--tools", "--data_dir", str(tiny_world), "--policy", str(tools_dir), "--out_dir",
                         str(tmp_path / "grpo_tools"), "--iters", "1", "--prompts_per_iter", "2", "--group_size", "2",
                         "--minibatch_size", "4", "--max_new_tokens", "8", "--n_samples", "2",
                         "--n_test_problems", "2", "--n_eval_prompts", "0"])
    assert "tool_calls" in metrics["before"] and "tool_calls" in metrics["after"]
    assert metrics["step_credit"] == 0.0 and "steps" not in metrics["signal"]  # a calculator's sums: no step credit
    log = [json.loads(line) for line in (tmp_path / "grpo_tools" / "log.jsonl").read_text().splitlines()]
    assert "tool_calls" in log[0]


def test_chat_shows_the_calls_and_their_results(tiny_enc):
    import argparse

    import chat
    model = scripted(tiny_gpt(tiny_enc), tiny_enc, copier(tiny_enc))
    args = argparse.Namespace(max_new_tokens=40, temperature=1.0, top_k=0, seed=0)
    shown = []
    answer = chat.reply(model, tiny_enc, [{"role": "user", "content": "What is 2 plus 3?"}], args, "cpu",
                        stream=shown.append, tools=run_tool)
    assert "".join(shown) == "[call: calc 2 plus 3] [result: 5] It is 5."
    assert chat.with_calls(answer) == "[call: calc 2 plus 3] [result: 5] It is 5."
