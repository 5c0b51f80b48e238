import pytest

from services.common.pii import PiiCipher, mask_id_number, mask_name, mask_phone, phone_tail


def test_encryption_round_trips_and_hides_the_value():
    cipher = PiiCipher("k" * 40)
    token = cipher.encrypt("140106198001011234")
    assert "1401061980" not in token
    assert cipher.decrypt(token) == "140106198001011234"
    with pytest.raises(ValueError):
        PiiCipher("another-key" * 4).decrypt(token)


def test_blind_index_matches_the_same_number_however_typed():
    cipher = PiiCipher("k" * 40)
    assert cipher.blind_index("14010619800101123x") == cipher.blind_index(" 14010619800101123X ")
    assert cipher.blind_index("140106198001011234") != cipher.blind_index("140106198001011235")
    assert cipher.blind_index("x") != PiiCipher("j" * 40).blind_index("x")


def test_masks():
    assert mask_phone("13812345678") == "138****5678"
    assert mask_name("王建国") == "王**"
    assert mask_name("李") == "*"
    assert mask_id_number("140106198001011234") == "1401**********1234"
    assert phone_tail("138-1234-5678") == "5678"
    assert mask_phone(None) is None
