"""Course tooling: environment report and checklist, device/dtype, run profiles, CJK fonts,
plots and quiet library logs (chapter 00 and every notebook's setup cell)."""
