// Runs KoboldAI Lite's own story loader (is_kai_json + kai_json_load, cut at run time from the
// index.html given) on a file, with the DOM-facing functions stubbed; prints what Lite then holds.
// Lite's code is not part of this repository: tests/core/test_lite_opens_our_files.py passes it in.
const fs = require("fs");
const [html, file] = process.argv.slice(2);
const src = fs.readFileSync(html, "utf8");
function cut(name) {
  const start = src.indexOf("function " + name + "(");
  if (start < 0) throw new Error("no " + name);
  let depth = 0, i = src.indexOf("{", start);
  for (; i < src.length; i++) {
    if (src[i] === "{") depth++;
    else if (src[i] === "}") { depth--; if (depth === 0) break; }
  }
  return src.slice(start, i + 1);
}
globalThis.localsettings = {show_advanced_load: false, instruct_starttag: "\\n### Instruction:\\n",
  instruct_endtag: "\\n### Response:\\n", extrastopseq: "", tokenbans: "", logitbiasdict: {},
  regexreplace_data: [], placeholder_tags_data: []};
for (const [k, v] of Object.entries({extrastopseq: "", tokenbans: "", logitbiasdict: {}, regexreplace_data: [],
  placeholder_tags_data: [], wi_searchdepth: 0, wi_insertlocation: 0, welcome: "", documentdb_provider: 0,
  documentdb_searchhistory: false, documentdb_numresults: 3, documentdb_searchrange: 300,
  documentdb_chunksize: 800, documentdb_data: "", temp_scenario: null})) globalThis[k] = v;
globalThis.aestheticInstructUISettings = {};
globalThis.completed_imgs_meta = {}; globalThis.default_imgs_meta = {};
const g = globalThis;
g.restart_new_game = () => { g.gametext_arr = []; g.alt_gametext_branches = []; g.current_anote = "";
  g.current_anotetemplate = "[Author's note: <|>]"; g.current_memory = ""; g.current_wi = [];
  g.personal_notes = ""; g.newlineaftermemory = true; g.anote_strength = 320; };
g.restart_new_game();
g.handle_advload_popup = (_show, cb) => cb();
for (const f of ["migrate_old_images_in_gametext", "toggle_theme_colors", "toggle_sidepanel_mode",
                 "update_for_sidepanel", "render_gametext", "sync_multiplayer", "refreshAestheticPreview"])
  g[f] = () => {};
g.preserve_protected_fields = () => ({}); g.restore_protected_fields = () => {};
g.import_props_into_object = (a, b) => { for (const k in b) a[k] = b[k]; };
(0, eval)(cut("is_kai_json") + "\n" + cut("kai_json_load") + "\nglobalThis.is_kai_json=is_kai_json;globalThis.kai_json_load=kai_json_load;");
const obj = JSON.parse(fs.readFileSync(file, "utf8"));
if (!g.is_kai_json(obj)) { console.log(JSON.stringify({error: "Lite does not take it as a story"})); process.exit(3); }
g.kai_json_load(obj, false);
console.log(JSON.stringify({text: g.gametext_arr.join(""), actions: g.gametext_arr.length,
  memory: g.current_memory, anote: g.current_anote, anotetemplate: g.current_anotetemplate,
  anote_strength: g.anote_strength, wi: g.current_wi, altbranches: g.alt_gametext_branches,
  savedsettings: g.localsettings}));
