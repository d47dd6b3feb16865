"""Copy of /work/shared/tools/splink_baseline.py with one change: when the deterministic rules used to estimate the
prior find no pairs (historical_50k has no national_id and no name_km, which makes the original crash with
"math domain error"), the prior is estimated with block_on("n1", "n2", "birth_date") instead. Everything else is
identical.
Splink baseline on the `dspp link` record format, for side-by-side comparison (pairwise and cluster P/R/F1).
usage: pip install splink pandas; python splink_baseline.py RECORDS.csv TRUTH.csv   (TRUTH: record_id,entity)"""
import sys, time, itertools, collections, unicodedata, pandas as pd
from splink import DuckDBAPI, Linker, SettingsCreator, block_on
import splink.comparison_library as cl
t0 = time.time()
pdf = pd.read_csv(sys.argv[1], dtype=str).fillna("")
truth = dict(pd.read_csv(sys.argv[2], dtype=str).values)
# light, reasonable preparation a Splink user would do
pdf["name_km"] = pdf.name_km.str.replace("\u200b", "", regex=False)
parts = pdf.name_latin.str.upper().str.split()
pdf["n1"] = parts.str[0].fillna(""); pdf["n2"] = parts.str[-1].fillna("")
pdf["byear"] = pdf.birth_date.str[:4]
pdf["commune"] = pdf.village_code.str[:6]
for c in ["name_km", "national_id", "n1", "n2", "birth_date"]:
    pdf.loc[pdf[c] == "", c] = None
pdf = pdf.rename(columns={"record_id": "unique_id"})
br = [block_on("national_id"), block_on("village_code", "byear"), block_on("n1", "n2"), block_on("name_km"),
      block_on("commune", "n2"), block_on("commune", "n1"), block_on("byear", "n2")]
s = SettingsCreator(link_type="dedupe_only", blocking_rules_to_generate_predictions=br, comparisons=[
    cl.JaroWinklerAtThresholds("n1", [0.92, 0.8]), cl.JaroWinklerAtThresholds("n2", [0.92, 0.8]),
    cl.LevenshteinAtThresholds("name_km", [1, 2]),
    cl.DateOfBirthComparison("birth_date", input_is_string=True),
    cl.LevenshteinAtThresholds("national_id", [1]),
    cl.ExactMatch("village_code"), cl.ExactMatch("sex")])
linker = Linker(DuckDBAPI().register(pdf), s)
linker.training.estimate_probability_two_random_records_match([block_on("national_id"), block_on("name_km", "birth_date")], recall=0.6)
if linker._settings_obj._probability_two_random_records_match <= 0:
    print("deterministic rules found no pairs: estimating the prior with block_on(n1, n2, birth_date)")
    linker.training.estimate_probability_two_random_records_match([block_on("n1", "n2", "birth_date")], recall=0.6)
linker.training.estimate_u_using_random_sampling(max_pairs=5e6)
linker.training.estimate_parameters_using_expectation_maximisation(block_on("village_code"))
linker.training.estimate_parameters_using_expectation_maximisation(block_on("byear", "n2"))
t1 = time.time()
pred = linker.inference.predict(threshold_match_probability=0.01)
ent = collections.defaultdict(list)
for r, e in truth.items(): ent[e].append(r)
T = sum(len(v) * (len(v) - 1) // 2 for v in ent.values())
for th in [0.5, 0.9, 0.99]:
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(pred, th).as_pandas_dataframe()
    by = collections.defaultdict(list)
    for u, c in zip(clusters.unique_id, clusters.cluster_id): by[c].append(u)
    tp = fp = 0
    for v in by.values():
        for a, b in itertools.combinations(v, 2):
            if truth[a] == truth[b]: tp += 1
            else: fp += 1
    P = tp / max(1, tp + fp); R = tp / T
    print(f"splink th={th} P={P:.4f} R={R:.4f} F1={2*P*R/max(1e-9,P+R):.4f} (train {t1-t0:.1f}s, total {time.time()-t0:.1f}s)")
df = pred.as_pandas_dataframe()
tm = [truth[a] == truth[b] for a, b in zip(df.unique_id_l, df.unique_id_r)]
df["tm"] = tm
for th in [0.5, 0.9, 0.99, 0.999]:
    sel = df.match_probability >= th; tp = int((sel & df.tm).sum()); fp = int((sel & ~df.tm).sum())
    P = tp / max(1, tp + fp); R = tp / T
    print(f"splink pairwise th={th} P={P:.4f} R={R:.4f} F1={2*P*R/max(1e-9,P+R):.4f}")
