"""permessage-deflate negotiation (RFC 7692 7.1) as tables: offers, answers, agreements; no sockets."""

from __future__ import annotations

import itertools

import pytest

from picows import DeflateAgreement, PerMessageDeflate
from support.internals import DeflateState, accept_response, answer_offers, build_offer, parse_extensions

DEFAULT = PerMessageDeflate()
WIDE = PerMessageDeflate(server_max_window_bits=15, client_max_window_bits=False)
STRICT = PerMessageDeflate(
    server_no_context_takeover=True,
    client_no_context_takeover=True,
    server_max_window_bits=11,
    client_max_window_bits=10,
)


def terms(agreement: DeflateAgreement | None) -> tuple[bool, bool, int, int] | None:
    if agreement is None:
        return None
    return (
        agreement.server_no_context_takeover,
        agreement.client_no_context_takeover,
        agreement.server_max_window_bits,
        agreement.client_max_window_bits,
    )


# ---------------------------------------------------------------- header syntax


@pytest.mark.parametrize(
    ("header", "parsed"),
    [
        ("permessage-deflate", [("permessage-deflate", [])]),
        ("Permessage-Deflate; Client_Max_Window_Bits", [("permessage-deflate", [("client_max_window_bits", None)])]),
        (
            'permessage-deflate; client_max_window_bits="10" , x-webkit-deflate-frame',
            [("permessage-deflate", [("client_max_window_bits", "10")]), ("x-webkit-deflate-frame", [])],
        ),
        ("a;b=1;c, ,d", [("a", [("b", "1"), ("c", None)]), ("d", [])]),
        ("", []),
    ],
)
def test_parse_extensions(header: str, parsed: list) -> None:
    assert parse_extensions([header]) == parsed


def test_parse_extensions_joins_header_lines() -> None:
    assert [name for name, _ in parse_extensions(["a", "b, c"])] == ["a", "b", "c"]


@pytest.mark.parametrize(
    "header",
    ["permessage-deflate;", "permessage-deflate; =1", 'a; b="1', 'a; b="x y"', "a b", "a; b=", "a;; b", "(a)"],
)
def test_parse_extensions_rejects_bad_syntax(header: str) -> None:
    with pytest.raises(ValueError):
        parse_extensions([header])


# ---------------------------------------------------------------- server: answering offers

PMD = "permessage-deflate"
S12 = "server_max_window_bits=12"  # the server's default window
SERVER_TABLE = [
    # (server options, client header, answer header or None, (s_reset, c_reset, s_bits, c_bits))
    (DEFAULT, PMD, f"{PMD}; {S12}", (False, False, 12, 15)),
    (DEFAULT, f"{PMD}; client_max_window_bits", f"{PMD}; {S12}; client_max_window_bits=12", (False, False, 12, 12)),
    (DEFAULT, f"{PMD}; client_max_window_bits=10",
     f"{PMD}; {S12}; client_max_window_bits=10", (False, False, 12, 10)),
    (DEFAULT, f'{PMD}; client_max_window_bits="9"',
     f"{PMD}; {S12}; client_max_window_bits=9", (False, False, 12, 9)),
    (DEFAULT, f"{PMD}; server_max_window_bits=12", f"{PMD}; {S12}", (False, False, 12, 15)),
    (DEFAULT, f"{PMD}; server_max_window_bits=15", f"{PMD}; {S12}", (False, False, 12, 15)),
    (DEFAULT, f"{PMD}; server_max_window_bits=9", f"{PMD}; server_max_window_bits=9", (False, False, 9, 15)),
    (DEFAULT, f"{PMD}; server_no_context_takeover; client_no_context_takeover",
     f"{PMD}; server_no_context_takeover; client_no_context_takeover; {S12}", (True, True, 12, 15)),
    (DEFAULT, f"{PMD}; client_max_window_bits=8",
     f"{PMD}; {S12}; client_max_window_bits=8", (False, False, 12, 8)),
    # An 8-bit server window cannot be produced by zlib: declined, the next offer is taken.
    (DEFAULT, f"{PMD}; server_max_window_bits=8", None, None),
    (DEFAULT, f"{PMD}; server_max_window_bits=8, {PMD}; server_max_window_bits=10",
     f"{PMD}; server_max_window_bits=10", (False, False, 10, 15)),
    (DEFAULT, f"{PMD}; server_max_window_bits=8, {PMD}", f"{PMD}; {S12}", (False, False, 12, 15)),
    # Invalid offers are declined one by one.
    (DEFAULT, f"{PMD}; foo", None, None),
    (DEFAULT, f"{PMD}; foo, {PMD}", f"{PMD}; {S12}", (False, False, 12, 15)),
    (DEFAULT, f"{PMD}; server_no_context_takeover; server_no_context_takeover", None, None),
    (DEFAULT, f"{PMD}; server_no_context_takeover=1", None, None),
    (DEFAULT, f"{PMD}; client_no_context_takeover=yes", None, None),
    (DEFAULT, f"{PMD}; server_max_window_bits", None, None),
    (DEFAULT, f"{PMD}; server_max_window_bits=16", None, None),
    (DEFAULT, f"{PMD}; server_max_window_bits=7", None, None),
    (DEFAULT, f"{PMD}; server_max_window_bits=08", None, None),
    (DEFAULT, f"{PMD}; client_max_window_bits=0x9", None, None),
    (DEFAULT, f"{PMD}; client_max_window_bits=16", None, None),
    # Other extensions are skipped; an unparsable header declines everything.
    (DEFAULT, f"x-webkit-deflate-frame, {PMD}; client_max_window_bits",
     f"{PMD}; {S12}; client_max_window_bits=12", (False, False, 12, 12)),
    (DEFAULT, "x-webkit-deflate-frame", None, None),
    (DEFAULT, f"{PMD};", None, None),
    (DEFAULT, "", None, None),
    # Full windows when asked for: nothing to answer for parameters not offered.
    (WIDE, PMD, PMD, (False, False, 15, 15)),
    (WIDE, f"{PMD}; client_max_window_bits", PMD, (False, False, 15, 15)),
    (WIDE, f"{PMD}; client_max_window_bits=11; server_max_window_bits=13",
     f"{PMD}; server_max_window_bits=13; client_max_window_bits=11", (False, False, 13, 11)),
    # Our preferences: flags always answered, windows capped.
    (STRICT, PMD,
     f"{PMD}; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=11",
     (True, True, 11, 15)),
    (STRICT, f"{PMD}; client_max_window_bits",
     f"{PMD}; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=11; "
     "client_max_window_bits=10",
     (True, True, 11, 10)),
    (STRICT, f"{PMD}; client_max_window_bits=12; server_max_window_bits=9",
     f"{PMD}; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; "
     "client_max_window_bits=10",
     (True, True, 9, 10)),
    (STRICT, f"{PMD}; client_max_window_bits=9",
     f"{PMD}; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=11; "
     "client_max_window_bits=9",
     (True, True, 11, 9)),
]


@pytest.mark.parametrize(("options", "offer", "answer", "agreed"), SERVER_TABLE)
def test_server_answers(options: PerMessageDeflate, offer: str, answer: str | None, agreed: tuple | None) -> None:
    agreement = answer_offers(options, [offer])
    assert terms(agreement) == agreed
    assert (agreement.header if agreement else None) == answer


def test_server_reads_every_header_line() -> None:
    agreement = answer_offers(DEFAULT, ["permessage-deflate; server_max_window_bits=8", "permessage-deflate"])
    assert agreement is not None and agreement.header == "permessage-deflate; server_max_window_bits=12"


def test_server_can_require_client_max_window_bits() -> None:
    """Offers without client_max_window_bits are declined; the next one that has it is answered."""
    required = PerMessageDeflate(client_max_window_bits=10, require_client_max_window_bits=True)
    assert answer_offers(required, ["permessage-deflate"]) is None
    agreement = answer_offers(required, ["permessage-deflate, permessage-deflate; client_max_window_bits"])
    assert agreement is not None
    assert agreement.header == "permessage-deflate; server_max_window_bits=12; client_max_window_bits=10"
    assert answer_offers(DEFAULT, ["permessage-deflate"]) is not None  # not required by default
    with pytest.raises(TypeError, match="require_client_max_window_bits must be a bool"):
        PerMessageDeflate(require_client_max_window_bits=1)  # type: ignore[arg-type]


# ---------------------------------------------------------------- client: offer and answer


@pytest.mark.parametrize(
    ("options", "offer"),
    [
        (DEFAULT, "permessage-deflate; client_max_window_bits"),
        (PerMessageDeflate(client_max_window_bits=True), "permessage-deflate; client_max_window_bits"),
        (PerMessageDeflate(client_max_window_bits=False), "permessage-deflate"),
        (STRICT, "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
                 "server_max_window_bits=11; client_max_window_bits=10"),
    ],
)
def test_client_offer(options: PerMessageDeflate, offer: str) -> None:
    assert build_offer(options) == offer


@pytest.mark.parametrize("name", ["server_max_window_bits", "client_max_window_bits"])
@pytest.mark.parametrize("bits", [8, 16, 0])
def test_window_of_8_bits_is_never_offered(name: str, bits: int) -> None:
    with pytest.raises(ValueError, match=name):
        PerMessageDeflate(**{name: bits})


CLIENT_TABLE = [
    # (client options, server answer, agreed terms)
    (DEFAULT, "permessage-deflate", (False, False, 15, 15)),
    (DEFAULT, "permessage-deflate; server_no_context_takeover", (True, False, 15, 15)),
    (DEFAULT, "permessage-deflate; client_no_context_takeover", (False, True, 15, 15)),
    (DEFAULT, "permessage-deflate; server_max_window_bits=8", (False, False, 8, 15)),
    (DEFAULT, "permessage-deflate; client_max_window_bits=8", (False, False, 15, 8)),
    (DEFAULT, 'permessage-deflate; client_max_window_bits="12"', (False, False, 15, 12)),
    (STRICT, "permessage-deflate; server_no_context_takeover; server_max_window_bits=10",
     (True, True, 10, 10)),
    (STRICT, "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
             "server_max_window_bits=11; client_max_window_bits=9", (True, True, 11, 9)),
]


@pytest.mark.parametrize(("options", "answer", "agreed"), CLIENT_TABLE)
def test_client_accepts(options: PerMessageDeflate, answer: str, agreed: tuple) -> None:
    agreement = accept_response(options, [answer])
    assert terms(agreement) == agreed
    assert agreement is not None and agreement.header == answer


def test_client_without_answer_has_no_agreement() -> None:
    assert accept_response(DEFAULT, []) is None
    assert accept_response(DEFAULT, [""]) is None


@pytest.mark.parametrize(
    ("options", "answer", "reason"),
    [
        (PerMessageDeflate(client_max_window_bits=False), "permessage-deflate; client_max_window_bits=10",
         "not offered"),
        (DEFAULT, "permessage-deflate; client_max_window_bits", "needs a value"),
        (STRICT, "permessage-deflate; client_max_window_bits=12", "exceeds"),
        (STRICT, "permessage-deflate; server_max_window_bits=12", "exceeds"),
        (DEFAULT, "permessage-deflate; server_max_window_bits", "needs a value"),
        (DEFAULT, "permessage-deflate; server_max_window_bits=16", "window size"),
        (DEFAULT, "permessage-deflate; server_no_context_takeover=1", "takes no value"),
        (DEFAULT, "permessage-deflate; server_no_context_takeover; server_no_context_takeover", "twice"),
        (DEFAULT, "permessage-deflate; foo", "unknown parameter"),
        (DEFAULT, "permessage-deflate, permessage-deflate", "not offered"),
        (DEFAULT, "x-webkit-deflate-frame", "not offered"),
        (DEFAULT, "permessage-deflate;", "expected a token"),
    ],
)
def test_client_rejects(options: PerMessageDeflate, answer: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        accept_response(options, [answer])


# ---------------------------------------------------------------- both ends agree

CLIENT_GRID = [
    PerMessageDeflate(
        server_no_context_takeover=s_reset,
        client_no_context_takeover=c_reset,
        server_max_window_bits=s_bits,
        client_max_window_bits=c_bits,
    )
    for s_reset, c_reset, s_bits, c_bits in itertools.product(
        (False, True), (False, True), (None, 9, 12, 15), (None, True, False, 9, 12, 15)
    )
]
SERVER_GRID = [
    PerMessageDeflate(
        server_no_context_takeover=s_reset,
        client_no_context_takeover=c_reset,
        server_max_window_bits=s_bits,
        client_max_window_bits=c_bits,
    )
    for s_reset, c_reset, s_bits, c_bits in itertools.product(
        (False, True), (False, True), (None, 10, 15), (None, False, 11)
    )
]


@pytest.mark.parametrize("server", SERVER_GRID, ids=repr)
def test_every_offer_and_answer_agree(server: PerMessageDeflate) -> None:
    for client in CLIENT_GRID:
        offer = build_offer(client)
        answered = answer_offers(server, [offer])
        assert answered is not None, offer
        accepted = accept_response(client, [answered.header])
        assert accepted is not None
        assert terms(accepted) == terms(answered), (offer, answered.header)
        # Each side keeps to what it asked for and what the other asked for.
        if client.server_max_window_bits is not None:
            assert answered.server_max_window_bits <= client.server_max_window_bits
        if not isinstance(client.client_max_window_bits, bool) and client.client_max_window_bits is not None:
            assert accepted.client_max_window_bits <= client.client_max_window_bits
        assert answered.server_no_context_takeover >= client.server_no_context_takeover
        assert answered.client_no_context_takeover >= server.client_no_context_takeover


# ---------------------------------------------------------------- what each side does with it


def agreement(s_reset: bool, c_reset: bool, s_bits: int, c_bits: int) -> DeflateAgreement:
    return DeflateAgreement(s_reset, c_reset, s_bits, c_bits, "permessage-deflate")


@pytest.mark.parametrize("is_client", [True, False])
def test_state_takes_its_own_side(is_client: bool) -> None:
    state = DeflateState(agreement(True, False, 10, 12), is_client, DEFAULT, 1000)
    own_bits, peer_bits = (12, 10) if is_client else (10, 12)
    assert (state.compress_wbits, state.inflate_wbits) == (own_bits, peer_bits)
    assert state.keep_compressor is is_client  # the server resets, the client keeps its context
    assert state.max_message_size == 1000  # None: the connection's max_frame_size


def test_state_never_compresses_into_an_8_bit_window() -> None:
    client = DeflateState(agreement(False, False, 8, 8), True, DEFAULT, 1000)
    assert not client.can_compress
    assert client.inflate_wbits == 9  # a 9-bit inflater reads an 8-bit stream
    assert client.shared_key is None


def test_state_limits_and_shared_key() -> None:
    options = PerMessageDeflate(compress_level=3, mem_level=5, max_message_size=77)
    state = DeflateState(agreement(True, True, 12, 15), False, options, 1000)
    assert state.max_message_size == 77
    assert state.shared_key == (12, 3, 5)
    assert DeflateState(agreement(False, True, 12, 15), False, options, 1000).shared_key is None


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"compress_level": 10}, ValueError),
        ({"mem_level": 0}, ValueError),
        ({"compress_threshold": -1}, ValueError),
        ({"max_message_size": -1}, ValueError),
        ({"server_no_context_takeover": 1}, TypeError),
        ({"server_max_window_bits": 12.0}, TypeError),
    ],
)
def test_options_are_validated(kwargs: dict, error: type) -> None:
    with pytest.raises(error):
        PerMessageDeflate(**kwargs)
