"""The idea's fields and their fixed options, as in Kemendagri's Indeks Inovasi Daerah profile.

Codes are stored; labels come from the catalogues (``form.<code>``, ``affair.<code>`` …).
"""

from __future__ import annotations

FORMS = ("tata_kelola", "pelayanan_publik", "lainnya")
INITIATORS = ("asn", "kepala_daerah", "dprd", "opd", "masyarakat")
AFFAIRS = (
    "pendidikan",
    "kesehatan",
    "pupr",
    "perumahan",
    "trantibum",
    "sosial",
    "tenaga_kerja",
    "pppa",
    "pangan",
    "pertanahan",
    "lingkungan_hidup",
    "adminduk",
    "pmd",
    "kb",
    "perhubungan",
    "kominfo",
    "koperasi_ukm",
    "penanaman_modal",
    "kepemudaan_olahraga",
    "statistik",
    "persandian",
    "kebudayaan",
    "perpustakaan",
    "kearsipan",
    "kelautan_perikanan",
    "pariwisata",
    "pertanian",
    "kehutanan",
    "esdm",
    "perdagangan",
    "perindustrian",
    "transmigrasi",
    "perencanaan",
    "keuangan",
    "kepegawaian",
    "penelitian_pengembangan",
    "pengawasan",
    "pemerintahan_umum",
)

# (field, minimum length, maximum length) of the free-text fields, in the order asked.
TEXT_LIMITS = {
    "name": (3, 150),
    "problem": (10, 4000),
    "idea": (10, 4000),
    "goal": (5, 4000),
    "benefit": (5, 4000),
    "beneficiaries": (3, 1000),
}

# The order of questions; the summary follows the same order.
FIELD_ORDER = (
    "name",
    "problem",
    "idea",
    "goal",
    "benefit",
    "beneficiaries",
    "digital",
    "form",
    "affair",
    "initiator",
    "opd",
    "budget",
    "attachments",
)
