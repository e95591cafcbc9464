"""Vietnamese report tools: parsing, normalisation, tokenisation, lesion extraction, VQA, augmentation.

Pure Python: nothing here imports torch, so metrics and notebooks stay light.

Entry points (import from the modules, which load lazily what they need):
- `normalize.normalize_text(text)`: one spelling of tone marks, SUVmax, sizes, decimals.
- `parse.parse_report(obj_or_text)`, `parse.load_report(path)`, `segment.split_sentences(text)`.
- `tokenize.tokenize(text, mode="syllable"|"word")`, `tokenize.TOKENIZER_INFO`.
- `extract.extract_lesions(report_or_text, scope="thorax"|"all")` -> expert-format `Lesion`s;
  `extract.analyze_report(...)` for the richer findings and statements.
- `vqa.generate_vqa(report_or_text, region="whole")`, `vqa.to_llava(...)`, `vqa.to_jsonl_records(...)`.
- `augment.augment_report(report_or_text, seed)`, `augment.facts_preserved(a, b)`.
- `paraphrase.LLMParaphraser` (OpenAI-compatible endpoint, off unless configured).
The vocabulary all of them read is `lexicon.yaml`, a file a radiologist can extend.
"""
