"""Indonesian normalisation for the similar-idea check."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bot.similarity.bulk import CorpusEncoder
from bot.similarity.normalize import SYNONYMS_FILE, Normalizer


@pytest.fixture(scope="module")
def norm() -> Normalizer:
    return Normalizer()


def test_case_punctuation_and_numbers(norm: Normalizer) -> None:
    assert norm.terms("PERPUSTAKAAN, Keliling!! 2021") == norm.terms("perpustakaan keliling")
    assert "2021" not in norm.terms("Top 99 tahun 2021")
    assert "99" not in norm.terms("Top 99 tahun 2021")


def test_numbers_the_lexicon_names_are_kept(norm: Normalizer) -> None:
    # The emergency line 112 is the idea of many entries; other numbers are not.
    assert norm.terms("Call Center 112") == norm.terms("call center panggilan darurat")
    assert norm.terms("layanan 112 untuk 178 desa") == norm.terms("layanan ntpd untuk desa")
    assert norm.terms("178 ambulans") == norm.terms("ambulans")


def test_affixes_are_stripped(norm: Normalizer) -> None:
    # Word forms of the same root meet: perekaman / merekam / rekam.
    assert norm.terms("perekaman") == norm.terms("merekam") == norm.terms("direkam")
    assert norm.terms("pendaftaran") == norm.terms("mendaftar")


def test_stopwords_removed_for_matching_only(norm: Normalizer) -> None:
    text = "Layanan yang dan untuk warga"
    assert norm.terms(text) == norm.terms("layanan warga")
    # Normalisation returns new terms; it never edits the caller's text.
    assert text == "Layanan yang dan untuk warga"


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("adminduk", "administrasi kependudukan"),
        ("KTP-el", "KTP elektronik"),
        ("e-KTP", "kartu tanda penduduk elektronik"),
        ("lansia", "lanjut usia"),
        ("difabel", "penyandang disabilitas"),
        ("disabilitas", "difabel"),
        ("pendaftaran daring", "pendaftaran online"),
        ("jemput bola", "mendatangi warga"),
        ("UMKM", "usaha mikro kecil dan menengah"),
        ("puskesmas", "pusat kesehatan masyarakat"),
        ("PTSP", "pelayanan terpadu satu pintu"),
        ("KK", "kartu keluarga"),
        ("KIA", "kartu identitas anak"),
    ],
)
def test_synonyms_meet(norm: Normalizer, left: str, right: str) -> None:
    assert norm.terms(left) == norm.terms(right)


def test_different_words_stay_apart(norm: Normalizer) -> None:
    assert norm.terms("lansia") != norm.terms("balita")
    assert norm.terms("ktp elektronik") != norm.terms("kartu keluarga")


def test_region_names_dropped_but_concept_words_kept(norm: Normalizer) -> None:
    terms = norm.terms("Inovasi Dinas Kesehatan Kota Semarang")
    assert "semarang" not in terms
    assert "sehat" in terms
    assert "gunungkidul" not in norm.terms("Posyandu di Kabupaten Gunungkidul")
    # "Desa Wisata" is an idea, not a place name.
    assert "wisata" in norm.terms("Promosi Desa Wisata")


def test_acronym_names_split(norm: Normalizer) -> None:
    assert norm.terms("SI-JEMPOL") == norm.terms("Si Jempol") == norm.terms("SiJempol")


def test_boilerplate_weighted_down(norm: Normalizer) -> None:
    (inovasi,) = norm.terms("inovasi")
    (stunting,) = norm.terms("stunting")
    assert norm.term_factor(inovasi) < 1.0
    assert norm.term_factor(stunting) == 1.0


def test_bappeda_can_extend_synonyms(tmp_path: Path) -> None:
    extended = tmp_path / "synonyms.tsv"
    extra = "siskeudes\tsistem keuangan desa\n"
    extended.write_text(SYNONYMS_FILE.read_text(encoding="utf-8") + extra, encoding="utf-8")
    base = Normalizer()
    custom = Normalizer(synonyms_path=extended)
    long_form = "sistem keuangan desa"
    assert base.terms(long_form) != base.terms("siskeudes")
    assert custom.terms(long_form) == custom.terms("siskeudes")


def test_field_terms_match_separate_calls(norm: Normalizer) -> None:
    name = "Layanan Lanjut"
    desc = "Usia produktif di Kota Semarang: perekaman KTP-el bagi lanjut usia"
    # "lanjut" ending the name and "usia" starting the description are not one phrase.
    assert norm.field_terms(name, desc) == (norm.terms(name), norm.terms(desc))
    assert norm.field_terms("", "") == ([], [])


def test_stem_cache_round_trip(tmp_path: Path, norm: Normalizer) -> None:
    norm.terms("pelayanan perekaman kependudukan")
    path = tmp_path / "stems.tsv"
    norm.save_stems(path)
    fresh = Normalizer()
    assert fresh.load_stems(path) >= 3
    assert fresh.terms("pelayanan perekaman") == norm.terms("pelayanan perekaman")
    (tmp_path / "junk.tsv").write_text("not a cache\n", encoding="utf-8")
    assert Normalizer().load_stems(tmp_path / "junk.tsv") == 0
    assert Normalizer().load_stems(tmp_path / "missing.tsv") == 0


# Rows that stress the batch pipeline's joins: place names at the end of a text, a
# marker ending the name, phrases across the field boundary, the separator character
# inside a text, accents, numbers, empty fields, repeated and overlapping phrases.
TRICKY_ROWS = [
    ("Layanan Lanjut", "Usia produktif di Kota Semarang: perekaman KTP-el bagi lanjut usia"),
    ("SiJempol", "Pelayanan di Kota"),
    ("Posyandu Kabupaten", "Gunungkidul Sleman desa binaan"),
    ("Inovasi Kota Sehat", "Promosi Desa Wisata Kota Batu Malang dan Kabupaten KOTA Sleman"),
    ("", ""),
    ("café naïve Pemkot", "Élan résumé e-KTP Kabupaten Gunungkidul"),
    ("nul\x00inside", "a\x00b Kota\x00Semarang pelayanan"),
    ("2021 Top 99", "kartu tanda penduduk elektronik kartu keluarga ktp el"),
    ("Kota Kabupaten Semarang", "lanjut usia lanjut usia penyandang disabilitas difabel"),
    ("lanjut", "usia"),
    ("e-KTP elektronik", "kartu identitas anak putus sekolah"),  # phrases overlapping
]


def _bulk_terms(
    norm: Normalizer, rows: list[tuple[str, str]], batch: int
) -> tuple[list[tuple[list[str], list[str]]], list[str], list[str]]:
    """Per row (name terms, description terms) through CorpusEncoder, the terms in the
    order they were registered, and the tokens handed out for stemming."""
    encoder = CorpusEncoder(norm)
    handed_out: list[str] = []
    for start in range(0, len(rows), batch):
        tokens = encoder.add(rows[start : start + batch])
        handed_out += tokens
        for token in tokens[::2]:  # the rest is left for records() to stem when needed
            norm.stem(token)
    ids: dict[str, int] = {}
    out: list[tuple[list[str], list[str]]] = []
    for flat, lengths in encoder.records(lambda term: ids.setdefault(term, len(ids))):
        assert flat.dtype == np.int32 and int(lengths.sum()) == len(flat)
        names = list(ids)
        start = 0
        for end in np.cumsum(lengths).tolist():
            rec = flat[start:end].tolist()
            out.append(
                ([names[t] for t in rec[1 : 1 + rec[0]]], [names[t] for t in rec[1 + rec[0] :]])
            )
            start = end
    return out, list(ids), handed_out


@pytest.mark.parametrize("batch", [1, 3, 1000])
def test_bulk_encoding_equals_row_by_row(batch: int) -> None:
    from bot.similarity.corpus import load_table

    devset = load_table(Path(__file__).parent / "data" / "similarity_devset.tsv")
    rows = TRICKY_ROWS + [(r["name"], r["description"]) for r in devset]
    by_row = Normalizer()
    expected = [by_row.field_terms(name, desc) for name, desc in rows]
    order: dict[str, None] = {}
    for name_t, desc_t in expected:
        order.update(dict.fromkeys(name_t + desc_t))
    bulk = Normalizer()
    got, registered, handed_out = _bulk_terms(bulk, rows, batch)
    assert got == expected
    assert registered == list(order)  # term ids in order of first appearance
    assert len(handed_out) == len(set(handed_out)) > 100  # each token handed out once
    # Exactly the stems a row-by-row pass needs: none missing, none for dropped places.
    assert bulk.stem_cache_snapshot() == by_row.stem_cache_snapshot()
