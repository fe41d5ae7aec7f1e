"""Unit tests for bridge.naming: every protocol-notes.md vector, exact round trips, bad input."""

import re
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.naming import (
    NamingError,
    alljoyn_to_ocf_property,
    alljoyn_to_ocf_rt,
    app_id_from_di,
    derive_pi,
    derive_piid,
    derive_virtual_di,
    is_valid_interface_name,
    is_valid_member_name,
    is_valid_object_path,
    object_path_to_uri,
    ocf_rt_to_alljoyn,
    ocf_to_alljoyn_property,
    uri_to_object_path,
)

ROUND_TRIPS = settings(max_examples=500, deadline=None)
IDENTITY_NAMESPACE = uuid.UUID("8f0e4e90-79e5-11e6-bdf4-0800200c9a66")

# docs/protocol-notes.md, "Interface names and resource types": interface name <-> resource type.
RT_VECTORS = [
    ("example.Widget", "x.example.-widget"),
    ("example.my_widget", "x.example.my--widget"),
    ("example.My_Widget", "x.example.-my---widget"),
    ("xn_p1ai.example", "x.xn--p1ai.example"),
    ("xn__90ae.example", "x.xn--90ae.example"),
    ("example.myName_1", "x.example.my-name-1"),
    ("com.example.M__w.m_W.x__9_1", "x.com.example.-m----w.m---w.x--9-1"),
    (
        "org.alljoyn.SmartSpaces.Operation.OnOffStatus",
        "x.org.alljoyn.-smart-spaces.-operation.-on-off-status",
    ),
]


# --- strategies --------------------------------------------------------------------------------

# Chunks that stress the encoding: underscore runs before letters, digits, dots and the end,
# capitals, and the letters that double as escape codes (d, h, t, u).
_CHUNKS = ["_", "__", "___", "a", "d", "h", "t", "u", "z", "A", "D", "U", "W", "0", "1", "9"]
_chunked_element = st.tuples(
    st.sampled_from(["_", "__", "a", "u", "M", "Q", "W"]),
    st.lists(st.sampled_from(_CHUNKS), max_size=8),
).map(lambda t: t[0] + "".join(t[1]))
_regex_element = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,15}", fullmatch=True)
_element = st.one_of(_chunked_element, _regex_element)

interface_names = (
    st.lists(_element, min_size=2, max_size=6).map(".".join).filter(lambda s: len(s) <= 255)
)
member_names = _element
resource_type_texts = st.one_of(
    st.text(alphabet="abdtuz019.-", max_size=24),
    st.lists(st.text(alphabet="-abuz01", min_size=1, max_size=8), min_size=2, max_size=4).map(
        ".".join
    ),
).map(lambda s: "x." + s)
ocf_property_names = st.text(alphabet="abdhuzAX09_.-", min_size=1, max_size=24)
object_paths = st.one_of(
    st.just("/"),
    st.lists(st.text(alphabet="abdhtuzX09_", min_size=1, max_size=10), min_size=1, max_size=4).map(
        lambda segments: "/" + "/".join(segments)
    ),
)
uris = st.one_of(
    st.just("/"),
    st.lists(
        st.text(alphabet="abdhtuzX09_.-~", min_size=1, max_size=10), min_size=1, max_size=4
    ).map(lambda segments: "/" + "/".join(segments)),
)


# --- interface name <-> resource type ----------------------------------------------------------


@pytest.mark.parametrize(("interface", "rt"), RT_VECTORS)
def test_interface_to_rt_vectors(interface: str, rt: str) -> None:
    assert alljoyn_to_ocf_rt(interface) == rt


@pytest.mark.parametrize(("interface", "rt"), RT_VECTORS)
def test_rt_to_interface_vectors(interface: str, rt: str) -> None:
    assert ocf_rt_to_alljoyn(rt) == interface


def test_underscore_runs_before_a_capital_and_a_small_letter_differ() -> None:
    # The IoTivity reference bridge maps both of these to "x.a.-m---w"; the rule here keeps them
    # apart by doubling every underscore of a run before a letter.
    assert alljoyn_to_ocf_rt("a.M_W") == "x.a.-m---w"
    assert alljoyn_to_ocf_rt("a.M__w") == "x.a.-m----w"
    assert alljoyn_to_ocf_rt("a.M__W") == "x.a.-m-----w"
    assert ocf_rt_to_alljoyn("x.a.-m-----w") == "a.M__W"


def test_underscores_before_a_dot_or_the_end_are_single_hyphens() -> None:
    assert alljoyn_to_ocf_rt("a_.b__") == "x.a-.b--"
    assert ocf_rt_to_alljoyn("x.a-.b--") == "a_.b__"


@ROUND_TRIPS
@given(interface_names)
def test_interface_round_trip(interface: str) -> None:
    rt = alljoyn_to_ocf_rt(interface)
    assert re.fullmatch(r"x\.[a-z0-9.-]+", rt)
    assert ocf_rt_to_alljoyn(rt) == interface


@ROUND_TRIPS
@given(resource_type_texts)
def test_every_accepted_rt_is_the_image_of_its_interface(rt: str) -> None:
    try:
        interface = ocf_rt_to_alljoyn(rt)
    except NamingError as error:
        assert error.value == rt
    else:
        assert alljoyn_to_ocf_rt(interface) == rt


@pytest.mark.parametrize(
    "rt",
    [
        "example.-widget",  # no x. prefix
        "X.example.-widget",
        "x.",
        "x.abc",  # one element only
        "x.Example.widget",  # upper case cannot come out of the forward mapping
        "x.a_b.c",  # neither can an underscore
        "x.1a.b",  # element starting with a digit
        "x.a..b",
        "x.a.b.",
        "x.a b.c",
        "x." + "a." * 127 + "ab",  # decodes to 256 characters
    ],
)
def test_rt_outside_the_image_is_rejected(rt: str) -> None:
    with pytest.raises(NamingError) as caught:
        ocf_rt_to_alljoyn(rt)
    assert caught.value.value == rt


@pytest.mark.parametrize(
    "interface", ["", "a", "a.", ".a", "a..b", "1a.b", "a.1b", "a-b.c", "a.b c", "ä.b", "a.b\n"]
)
def test_invalid_interface_name_is_rejected(interface: str) -> None:
    with pytest.raises(NamingError) as caught:
        alljoyn_to_ocf_rt(interface)
    assert caught.value.value == interface
    assert repr(interface) in str(caught.value)


# --- property names ----------------------------------------------------------------------------

PROPERTY_VECTORS = [
    ("Target_dValue", "Target.Value"),
    ("x_hy", "x-y"),
    ("IsOn", "IsOn"),
    ("Is_On", "Is_On"),  # a native underscore crosses unchanged
    ("a_ud", "a_d"),  # a literal "_" before d/h is escaped as "_u"
    ("a_uuh", "a_uh"),
    ("a_u_d", "a_u."),
    ("__d", "_."),
    ("_", "_"),
]


@pytest.mark.parametrize(("alljoyn", "ocf"), PROPERTY_VECTORS)
def test_property_vectors_both_ways(alljoyn: str, ocf: str) -> None:
    assert alljoyn_to_ocf_property(alljoyn) == ocf
    assert ocf_to_alljoyn_property(ocf) == alljoyn


@ROUND_TRIPS
@given(member_names)
def test_alljoyn_property_round_trip(name: str) -> None:
    ocf = alljoyn_to_ocf_property(name)
    assert ocf_to_alljoyn_property(ocf) == name


@ROUND_TRIPS
@given(ocf_property_names)
def test_ocf_property_round_trip(name: str) -> None:
    if name[0].isdigit():
        with pytest.raises(NamingError):
            ocf_to_alljoyn_property(name)
        return
    member = ocf_to_alljoyn_property(name)
    assert is_valid_member_name(member)
    assert alljoyn_to_ocf_property(member) == name


@pytest.mark.parametrize("name", ["", "1x", "a b", "a~b", "a/b", "é", "a" * 256])
def test_unmappable_ocf_property_is_rejected(name: str) -> None:
    with pytest.raises(NamingError) as caught:
        ocf_to_alljoyn_property(name)
    assert caught.value.value == name


@pytest.mark.parametrize("name", ["", "1x", "a.b", "a-b", "a b", "a" * 256])
def test_invalid_member_name_is_rejected(name: str) -> None:
    with pytest.raises(NamingError) as caught:
        alljoyn_to_ocf_property(name)
    assert caught.value.value == name


# --- object path <-> URI -----------------------------------------------------------------------

PATH_VECTORS = [
    ("/abc_ddef_hghi_tjkl_umno", "/abc.def-ghi~jkl_mno"),  # docs/protocol-notes.md
    ("/", "/"),
    ("/light/1", "/light/1"),
    ("/my_light", "/my~ulight"),  # bare "_" -> "~u"
    ("/a_/b_", "/a~u/b~u"),
    ("/a__d", "/a~u."),
    ("/a_tud", "/a~ud"),  # "~u" before d/h/t/u is "~" then "u"
    ("/a_t_u", "/a~_"),
]


@pytest.mark.parametrize(("path", "uri"), PATH_VECTORS)
def test_path_vectors_both_ways(path: str, uri: str) -> None:
    assert object_path_to_uri(path) == uri
    assert uri_to_object_path(uri) == path


@pytest.mark.parametrize("path", ["/light_turbo", "/a_tu", "/a_tu/b", "/a_tu_d"])
def test_path_whose_uri_would_read_back_differently_is_rejected(path: str) -> None:
    with pytest.raises(NamingError) as caught:
        object_path_to_uri(path)
    assert caught.value.value == path
    assert "_tu" in caught.value.reason


@ROUND_TRIPS
@given(object_paths)
def test_object_path_round_trip(path: str) -> None:
    if re.search(r"_tu(?![dhtu])", path):
        with pytest.raises(NamingError):
            object_path_to_uri(path)
        return
    assert uri_to_object_path(object_path_to_uri(path)) == path


@ROUND_TRIPS
@given(uris)
def test_uri_round_trip(uri: str) -> None:
    path = uri_to_object_path(uri)
    assert is_valid_object_path(path)
    assert object_path_to_uri(path) == uri


@pytest.mark.parametrize("path", ["", "a", "/a/", "//a", "/a-b", "/a.b", "/ä"])
def test_invalid_object_path_is_rejected(path: str) -> None:
    with pytest.raises(NamingError) as caught:
        object_path_to_uri(path)
    assert caught.value.value == path


@pytest.mark.parametrize("uri", ["", "a", "/a/", "//a", "/a?b=1", "/a%20b", "/a b", "/ä"])
def test_unmappable_uri_is_rejected(uri: str) -> None:
    with pytest.raises(NamingError) as caught:
        uri_to_object_path(uri)
    assert caught.value.value == uri


# --- identity ----------------------------------------------------------------------------------


def test_piid_vector() -> None:
    app_id = bytes.fromhex("46e80bf89ff5478abe9f7fa34adc497b")
    piid = derive_piid("0ce43c8b-b997-4a05-b77d-1c92e01fe7ae", app_id)
    assert piid == "deb82703-2778-5edf-ab22-105455bb4cfa"


def test_piid_depends_on_app_id() -> None:
    device_id = "0ce43c8b-b997-4a05-b77d-1c92e01fe7ae"
    assert derive_piid(device_id, bytes(16)) != derive_piid(device_id, bytes(15) + b"\x01")


@pytest.mark.parametrize(
    ("device_id", "pi"),
    [
        ("0ce43c8b-b997-4a05-b77d-1c92e01fe7ae", "0ce43c8b-b997-4a05-b77d-1c92e01fe7ae"),
        ("0CE43C8BB9974A05B77D1C92E01FE7AE", "0ce43c8b-b997-4a05-b77d-1c92e01fe7ae"),
        ("kitchen-lamp-7", str(uuid.uuid5(IDENTITY_NAMESPACE, "kitchen-lamp-7"))),
        # Stray or misplaced dashes are not a UUID: hashed, not parsed.
        ("0ce43c8bb997-4a05-b77d-1c92e01fe7ae", "hash"),
        ("{0ce43c8b-b997-4a05-b77d-1c92e01fe7ae}", "hash"),
    ],
)
def test_pi(device_id: str, pi: str) -> None:
    expected = str(uuid.uuid5(IDENTITY_NAMESPACE, device_id)) if pi == "hash" else pi
    assert derive_pi(device_id) == expected


def test_virtual_di_is_the_app_id() -> None:
    app_id = bytes.fromhex("46e80bf89ff5478abe9f7fa34adc497b")
    assert derive_virtual_di(app_id) == "46e80bf8-9ff5-478a-be9f-7fa34adc497b"
    assert app_id_from_di("46e80bf8-9ff5-478a-be9f-7fa34adc497b") == app_id
    assert app_id_from_di("46E80BF89FF5478ABE9F7FA34ADC497B") == app_id


@ROUND_TRIPS
@given(st.binary(min_size=16, max_size=16))
def test_app_id_di_round_trip(app_id: bytes) -> None:
    di = derive_virtual_di(app_id)
    assert di == str(uuid.UUID(di))
    assert app_id_from_di(di) == app_id


@pytest.mark.parametrize("app_id", [b"", bytes(15), bytes(17), "46e80bf89ff5478abe9f7fa34adc497b"])
def test_app_id_must_be_16_bytes(app_id: bytes) -> None:
    with pytest.raises(NamingError) as caught:
        derive_virtual_di(app_id)
    assert caught.value.value == app_id
    with pytest.raises(NamingError):
        derive_piid("device", app_id)


@pytest.mark.parametrize("di", ["", "not-a-uuid", "46e80bf8-9ff5-478a-be9f-7fa34adc497", "g" * 32])
def test_di_must_be_a_uuid(di: str) -> None:
    with pytest.raises(NamingError) as caught:
        app_id_from_di(di)
    assert caught.value.value == di


def test_empty_device_id_is_rejected() -> None:
    with pytest.raises(NamingError):
        derive_pi("")
    with pytest.raises(NamingError):
        derive_piid("", bytes(16))


# --- name syntax and the error type ------------------------------------------------------------


def test_interface_name_syntax() -> None:
    assert is_valid_interface_name("a.b")
    assert is_valid_interface_name("_.b_0")
    assert is_valid_interface_name("a." + "b" * 253)
    assert not is_valid_interface_name("a." + "b" * 254)
    assert not is_valid_interface_name("ab")
    assert not is_valid_interface_name("a.0b")
    assert not is_valid_interface_name(None)


def test_member_name_syntax() -> None:
    assert is_valid_member_name("_")
    assert is_valid_member_name("A" * 255)
    assert not is_valid_member_name("A" * 256)
    assert not is_valid_member_name("a.b")
    assert not is_valid_member_name("9a")
    assert not is_valid_member_name(b"a")


def test_object_path_syntax() -> None:
    assert is_valid_object_path("/")
    assert is_valid_object_path("/a/_0/B")
    assert not is_valid_object_path("/a/")
    assert not is_valid_object_path("a")
    assert not is_valid_object_path("/a//b")
    assert not is_valid_object_path(7)


def test_naming_error_names_the_input() -> None:
    with pytest.raises(ValueError, match=re.escape("'x.Bad'")) as caught:
        ocf_rt_to_alljoyn("x.Bad")
    error = caught.value
    assert isinstance(error, NamingError)
    assert error.value == "x.Bad"
    assert error.reason in str(error)
