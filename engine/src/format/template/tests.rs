//! Behaviour of Docker's templates as Go's text/template defines it.

use serde_json::json;

use super::*;

fn container() -> Json {
    json!({
        "Id": "4c01db0b339cf5ab2f3d3d0ea0fa41fb3b1c2e4a1b8f1d5d3e0c9e9b7a6f5e4d",
        "Created": "2024-01-01T10:00:00.000000000Z",
        "Path": "/bin/sh",
        "Args": ["-c", "echo hi"],
        "State": {
            "Status": "running", "Running": true, "Paused": false, "Pid": 1234, "ExitCode": 0
        },
        "Name": "/web",
        "RestartCount": 0,
        "Config": {
            "Hostname": "4c01db0b339c",
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin", "LANG=C.UTF-8"],
            "Cmd": ["/bin/sh", "-c", "echo hi"],
            "Entrypoint": null,
            "Labels": {"com.example.b": "2", "com.example.a": "1"},
            "Volumes": {}
        },
        "NetworkSettings": {"IPAddress": "172.17.0.2", "Ports": {}},
        "RepoTags": ["alpine:3.19", "alpine:latest"],
        "RootFS": {"Type": "layers", "Layers": ["sha256:aaa", "sha256:bbb"]},
        "Size": 7_377_000,
        "Ratio": 0.25,
        "Html": "<a&b>"
    })
}

fn r(template: &str) -> String {
    render(template, &container()).unwrap_or_else(|e| panic!("{template:?}: {e}"))
}

fn err(template: &str) -> String {
    render(template, &container())
        .expect_err(template)
        .to_string()
}

#[test]
fn fields_and_scalars() {
    assert_eq!(r("{{.Id}}"), container()["Id"].as_str().unwrap());
    assert_eq!(r("{{ .NetworkSettings.IPAddress }}"), "172.17.0.2");
    assert_eq!(r("{{.State.Pid}}"), "1234");
    assert_eq!(r("{{.State.Running}}"), "true");
    assert_eq!(r("{{.Ratio}}"), "0.25");
    assert_eq!(r("id={{.Name}}!"), "id=/web!");
}

#[test]
fn slices_and_maps_print_like_go() {
    assert_eq!(r("{{.Config.Cmd}}"), "[/bin/sh -c echo hi]");
    assert_eq!(
        r("{{.Config.Env}}"),
        "[PATH=/usr/local/sbin:/usr/local/bin LANG=C.UTF-8]"
    );
    assert_eq!(
        r("{{.Config.Labels}}"),
        "map[com.example.a:1 com.example.b:2]"
    );
    assert_eq!(r("{{.Config.Volumes}}"), "map[]");
    assert_eq!(
        r("{{.RootFS}}"),
        "map[Layers:[sha256:aaa sha256:bbb] Type:layers]"
    );
}

#[test]
fn null_and_missing_print_no_value() {
    assert_eq!(r("{{.Config.Entrypoint}}"), "<no value>");
    assert_eq!(r("{{.Missing}}"), "<no value>");
    assert_eq!(r("{{json .Config.Entrypoint}}"), "null");
    assert_eq!(r("{{if .Config.Entrypoint}}y{{else}}n{{end}}"), "n");
    assert_eq!(r("{{print .Missing}}"), "<nil>");
}

#[test]
fn json_keeps_key_order_and_does_not_escape_html() {
    assert_eq!(
        r("{{json .RootFS}}"),
        r#"{"Type":"layers","Layers":["sha256:aaa","sha256:bbb"]}"#
    );
    assert_eq!(
        r("{{json .Config.Labels}}"),
        r#"{"com.example.b":"2","com.example.a":"1"}"#
    );
    assert_eq!(r("{{json .Html}}"), r#""<a&b>""#);
    assert_eq!(r("{{json .State.Pid}}"), "1234");
    assert_eq!(r("{{json .Ratio}}"), "0.25");
    assert_eq!(r("{{json .Config.Volumes}}"), "{}");
    let data = json!({"s": "tab\there \"q\" \\ \u{1} \u{2028}"});
    assert_eq!(
        render("{{json .s}}", &data).unwrap(),
        r#""tab\there \"q\" \\ \u0001 \u2028""#
    );
}

#[test]
fn json_of_whole_document_round_trips_in_order() {
    let out = r("{{json .}}");
    let expected = serde_json::to_string(&container()).unwrap();
    assert_eq!(out, expected);
}

#[test]
fn range_over_slices_and_sorted_maps() {
    assert_eq!(
        r("{{range .RepoTags}}{{.}} {{end}}"),
        "alpine:3.19 alpine:latest "
    );
    assert_eq!(
        r("{{range $i, $t := .RepoTags}}{{$i}}={{$t}};{{end}}"),
        "0=alpine:3.19;1=alpine:latest;"
    );
    assert_eq!(
        r("{{range $k, $v := .Config.Labels}}{{$k}}={{$v}},{{.}} {{end}}"),
        "com.example.a=1,1 com.example.b=2,2 "
    );
    assert_eq!(r("{{range $v := .Config.Labels}}{{$v}}{{end}}"), "12");
    assert_eq!(r("{{range .Config.Labels}}{{.}}{{end}}"), "12");
}

#[test]
fn range_else_runs_only_when_empty() {
    assert_eq!(r("{{range .RepoTags}}x{{else}}none{{end}}"), "xx");
    assert_eq!(r("{{range .Config.Volumes}}x{{else}}none{{end}}"), "none");
    assert_eq!(
        r("{{range .Config.Entrypoint}}x{{else}}none{{end}}"),
        "none"
    );
    assert_eq!(
        r("{{range $k, $v := .Config.Volumes}}x{{else}}none{{end}}"),
        "none"
    );
    assert!(err("{{range .Name}}x{{end}}").contains("range can't iterate over /web"));
}

#[test]
fn nested_ranges_and_root_variable() {
    let data = json!({"Nets": {"b": {"IPs": ["2", "3"]}, "a": {"IPs": ["1"]}}, "N": "x"});
    let out = render(
        "{{range $n, $c := .Nets}}{{$n}}:{{range $c.IPs}}{{.}}{{$.N}}{{end}} {{end}}",
        &data,
    )
    .unwrap();
    assert_eq!(out, "a:1x b:2x3x ");
}

#[test]
fn trim_markers_survive_rewriting() {
    assert_eq!(
        r("{{- range .RepoTags }}\n  {{- . }}\n{{ end -}}\n!"),
        "alpine:3.19\nalpine:latest\n!"
    );
    assert_eq!(r("a  {{- .Name -}}  b"), "a/webb");
    assert_eq!(r("{{/* comment */}}x {{- /* c2 */ -}} y"), "xy");
}

#[test]
fn docker_functions() {
    assert_eq!(r("{{join .Config.Cmd \" \"}}"), "/bin/sh -c echo hi");
    assert_eq!(r("{{join .Config.Entrypoint \",\"}}"), "");
    assert_eq!(r("{{split .Config.Hostname \"c\"}}"), "[4 01db0b339 ]");
    assert_eq!(r("{{len (split \"a,b,c\" \",\")}}"), "3");
    assert_eq!(r("{{upper .State.Status}}"), "RUNNING");
    assert_eq!(r("{{lower \"MiXeD\"}}"), "mixed");
    assert_eq!(r("{{title \"hello wor-ld_x\"}}"), "Hello Wor-Ld_x");
    assert_eq!(r("[{{pad .State.Status 2 1}}]"), "[  running ]");
    assert_eq!(r("[{{pad \"\" 2 1}}]"), "[]");
    assert_eq!(r("{{truncate .Id 12}}"), "4c01db0b339c");
    assert_eq!(r("{{truncate \"abc\" 12}}"), "abc");
    // A piped value becomes the last argument, as in Go: `truncate 5 .Id` is a type error.
    assert_eq!(
        err("{{.Id | truncate 5}}"),
        "template parsing error: template: :1:17: executing \"\" at <5>: expected string; found 5"
    );
    assert_eq!(r("{{truncate .Id 5 | upper}}"), "4C01D");
}

#[test]
fn go_builtins() {
    assert_eq!(r("{{println .Name}}"), "/web\n");
    assert_eq!(r("{{println .Name .State.Pid}}"), "/web 1234\n");
    assert_eq!(
        r("{{print .State.Pid .State.Pid \"s\" .State.Pid}}"),
        "1234 1234s1234"
    );
    assert_eq!(r("{{printf \"%s-%d\" .Name .State.Pid}}"), "/web-1234");
    assert_eq!(r("{{printf \"%v\" .Config.Cmd}}"), "[/bin/sh -c echo hi]");
    assert_eq!(r("{{.Name | printf \"%q\"}}"), "\"/web\"");
    assert_eq!(r("{{len .RepoTags}}"), "2");
    assert_eq!(r("{{len .Config.Labels}}"), "2");
    assert_eq!(r("{{len .Name}}"), "4");
    assert_eq!(r("{{index .Config.Labels \"com.example.a\"}}"), "1");
    assert_eq!(r("[{{index .Config.Labels \"nope\"}}]"), "[]");
    assert_eq!(r("{{index .RepoTags 1}}"), "alpine:latest");
    assert_eq!(r("{{index .RootFS.Layers 0}}"), "sha256:aaa");
    assert!(err("{{index .RepoTags 5}}").contains("index out of range: 5"));
    assert_eq!(
        r("{{if eq .State.Status \"running\"}}up{{else}}down{{end}}"),
        "up"
    );
    assert_eq!(r("{{if .State.Running}}up{{else}}down{{end}}"), "up");
    assert_eq!(
        r("{{if .State.Paused}}p{{else if .State.Running}}r{{end}}"),
        "r"
    );
    assert_eq!(
        r("{{if and .State.Running (not .State.Paused)}}ok{{end}}"),
        "ok"
    );
    assert_eq!(r("{{with .State}}{{.Pid}}{{end}}"), "1234");
    assert_eq!(r("{{$n := .Name}}{{$n}}"), "/web");
    assert_eq!(r("{{eq .State.ExitCode 0}}"), "true");
    assert_eq!(r("{{eq .State.Status \"exited\" \"running\"}}"), "true");
    assert_eq!(r("{{eq .State.Status \"exited\" \"dead\"}}"), "false");
    assert_eq!(
        r("{{ne .State.Pid 1234}} {{ne .Name \"/db\"}}"),
        "false true"
    );
    assert_eq!(
        r("{{eq .Ratio 0.25}} {{eq .State.Pid 1234.0}}"),
        "true true"
    );
}

#[test]
fn control_structures_nest_inside_rewritten_ranges() {
    assert_eq!(
        r("{{range .RepoTags}}{{if eq . \"alpine:latest\"}}L{{else}}o{{end}}{{else}}E{{end}}"),
        "oL"
    );
    assert_eq!(
        r("{{with .Config}}{{range $k, $v := .Labels}}{{$k}} {{end}}{{else}}none{{end}}"),
        "com.example.a com.example.b "
    );
    assert_eq!(
        r("{{define \"tag\"}}<{{.}}>{{end}}{{range .RepoTags}}{{template \"tag\" .}}{{end}}"),
        "<alpine:3.19><alpine:latest>"
    );
    assert_eq!(
        r("{{range .RepoTags}}{{range $.RootFS.Layers}}.{{end}}|{{end}}"),
        "..|..|"
    );
}

#[test]
fn template_is_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Template>();
}

#[test]
fn multi_line_actions_and_raw_strings() {
    assert_eq!(r("{{.Name\n}}"), "/web");
    assert_eq!(r("{{printf `%s\n` .Name}}"), "/web\n");
}

#[test]
fn parse_errors_are_go_worded() {
    assert_eq!(
        err("{{foo .Id}}"),
        "template parsing error: template: :1: function \"foo\" not defined"
    );
    assert_eq!(
        err("line\n{{.Id}}\n{{bar}}"),
        "template parsing error: template: :3: function \"bar\" not defined"
    );
    assert_eq!(
        err("{{.Id"),
        "template parsing error: template: :1: unclosed action"
    );
    assert_eq!(
        err("{{end}}"),
        "template parsing error: template: :1: unexpected {{end}}"
    );
    assert_eq!(
        err("{{if .Id}}x"),
        "template parsing error: template: :1: unexpected EOF"
    );
    assert_eq!(
        err("{{range .RepoTags}}{{end}}{{break}}"),
        "template parsing error: template: :1: {{break}} outside {{range}}"
    );
}

#[test]
fn function_names_skip_fields_literals_and_numbers() {
    // Only `printf` and `len` are function names here (the old rewriter's test, now parsed).
    let data = json!({"a": {"b": "B"}, "d": [1, 2]});
    assert_eq!(
        render(
            r#"{{$v := .a}}{{printf "%s x %v %v %v %c %d" .a.b $v.b 1e+3 -2 'y' (len .d)}}"#,
            &data
        )
        .unwrap(),
        "B x B 1000 -2 y 2"
    );
}

#[test]
fn execution_errors_are_reported() {
    assert!(err("{{upper .State.Pid}}").contains("wrong type for value; expected string; got int"));
    assert_eq!(
        err("{{.Name.Foo}}"),
        "template parsing error: template: :1:7: executing \"\" at <.Name.Foo>: \
         can't evaluate field Foo in type string"
    );
}

#[test]
fn headers_render_with_header_functions() {
    let mut headers = Map::new();
    headers.insert("Repository".into(), json!("REPOSITORY"));
    headers.insert("ID".into(), json!("IMAGE ID"));
    headers.insert("Tag".into(), json!("TAG"));
    let tmpl = "{{.Repository}}\t{{.ID}}\t{{lower .Tag}}\t{{json .Tag}}\t{{pad .Tag 1 1}}";
    assert_eq!(
        render_header(tmpl, &headers).unwrap(),
        "REPOSITORY\tIMAGE ID\tTAG\tTAG\t TAG "
    );
    let parsed = Template::parse("{{.Repository}}:{{upper .Tag}}").unwrap();
    let row = json!({"Repository": "alpine", "Tag": "latest"});
    assert_eq!(parsed.execute(&row).unwrap(), "alpine:LATEST");
    assert_eq!(parsed.execute_header(&headers).unwrap(), "REPOSITORY:TAG");
}

#[test]
fn format_parse_classifies_like_docker() {
    assert_eq!(Format::parse("json"), Format::Json);
    assert_eq!(
        Format::parse("table {{.ID}}\\t{{.Size}}"),
        Format::Table("{{.ID}}\t{{.Size}}".into())
    );
    assert_eq!(Format::parse("table"), Format::Table(String::new()));
    assert_eq!(
        Format::parse(" {{.ID}}\\n "),
        Format::Raw("{{.ID}}\n".into())
    );
    assert_eq!(Format::parse(" json"), Format::Raw("json".into()));
    assert_eq!(Format::Json.template(), "{{json .}}");
    assert!(Format::parse("table {{.ID}}").is_table());
}

// What the gtmpl-based implementation could not do.

#[test]
fn break_and_continue_in_range() {
    assert_eq!(
        r("{{range $i, $t := .RepoTags}}{{if eq $i 1}}{{break}}{{end}}{{$t}};{{end}}"),
        "alpine:3.19;"
    );
    assert_eq!(
        r("{{range .RepoTags}}{{if eq . \"alpine:3.19\"}}{{continue}}{{end}}{{.}}{{end}}"),
        "alpine:latest"
    );
    // break leaves only the innermost range; the else branch does not run.
    let data = json!([[1, 2], [3]]);
    assert_eq!(
        render(
            "{{range .}}{{range .}}{{.}}{{break}}{{end}}|{{else}}E{{end}}",
            &data
        )
        .unwrap(),
        "1|3|"
    );
    assert_eq!(
        err("{{if .Id}}{{continue}}{{end}}"),
        "template parsing error: template: :1: {{continue}} outside {{range}}"
    );
}

#[test]
fn variables_assign_scope_and_root() {
    assert_eq!(
        r("{{$last := \"\"}}{{range .RepoTags}}{{$last = .}}{{end}}{{$last}}"),
        "alpine:latest"
    );
    assert_eq!(
        r("{{$x := 1}}{{if true}}{{$x := 2}}{{$x}}{{end}}{{$x}}"),
        "21"
    );
    assert_eq!(r("{{with .State}}{{$.Name}}:{{.Pid}}{{end}}"), "/web:1234");
    assert_eq!(
        err("{{if .Id}}{{$y := 1}}{{end}}{{$y}}"),
        "template parsing error: template: :1: undefined variable \"$y\""
    );
    // Templates see only `$`, bound to their argument.
    assert_eq!(
        r("{{define \"t\"}}{{$}}{{end}}{{$n := 5}}{{template \"t\" .State.Pid}}"),
        "1234"
    );
    assert!(
        err("{{define \"t\"}}{{$n}}{{end}}{{$n := 5}}{{template \"t\"}}")
            .contains("undefined variable \"$n\"")
    );
}

#[test]
fn else_with_and_chained_else_if() {
    assert_eq!(
        r("{{with .Missing}}a{{else with .State}}{{.Status}}{{else}}c{{end}}"),
        "running"
    );
    assert_eq!(
        r("{{if .State.Paused}}p{{else if .Missing}}m{{else if .State.Running}}r{{else}}o{{end}}"),
        "r"
    );
}

#[test]
fn and_or_short_circuit_and_return_operands() {
    assert_eq!(
        r("{{and 1 0 2}} {{and 1 2}} {{or 0 \"\" 3}} {{or 0 false}}"),
        "0 2 3 false"
    );
    // The erroring second operand is never evaluated.
    assert_eq!(r("{{or .Name (index .RepoTags 9)}}"), "/web");
    assert_eq!(r("{{and .Missing (index .RepoTags 9)}}"), "<no value>");
    assert_eq!(r("{{if or .State.Paused .State.Running}}up{{end}}"), "up");
}

#[test]
fn comparisons_follow_go() {
    assert_eq!(
        r("{{lt .State.Pid 2000}} {{gt .Ratio 0.1}} {{le \"a\" \"b\"}} {{ge 1 1}}"),
        "true true true true"
    );
    assert_eq!(
        r("{{eq .Missing \"x\"}} {{eq .Config.Entrypoint nil}}"),
        "false true"
    );
    assert!(err("{{eq .Name 1}}").ends_with("error calling eq: incompatible types for comparison"));
    assert!(err("{{lt true false}}").ends_with("error calling lt: invalid type for comparison"));
    assert!(err("{{eq .RepoTags .RepoTags}}").ends_with(
        "error calling eq: uncomparable type []interface {}: [alpine:3.19 alpine:latest]"
    ));
}

#[test]
fn more_go_builtins() {
    assert_eq!(
        r("{{slice .Name 1 3}} {{slice .RepoTags 1}} {{slice .RepoTags}}"),
        "we [alpine:latest] [alpine:3.19 alpine:latest]"
    );
    assert_eq!(r("{{index .Name 1}}"), "119");
    assert_eq!(r("{{index .RootFS \"Layers\" 1}}"), "sha256:bbb");
    assert_eq!(
        r("{{html .Html}} {{js .Html}} {{urlquery \"a b&c\"}}"),
        "&lt;a&amp;b&gt; \\u003Ca\\u0026b\\u003E a+b%26c"
    );
    assert_eq!(r("{{html .Missing}}"), "&lt;no value&gt;");
    assert_eq!(r("{{not .Name}} {{not .Config.Volumes}}"), "false true");
    assert!(err("{{call .Name}}").ends_with("error calling call: non-function of type string"));
    assert!(err("{{slice .Name 3 1}}").ends_with("error calling slice: invalid slice index: 3 > 1"));
    assert!(err("{{index .RepoTags 2}}")
        .ends_with("error calling index: reflect: slice index out of range"));
}

#[test]
fn literals_follow_go() {
    assert_eq!(
        r("{{1}} {{1.5}} {{1e3}} {{0x10}} {{017}} {{0b11}} {{1_000}} {{'a'}} {{-3}} {{true}} {{\"s\\t\"}} {{`r\\t`}}"),
        "1 1.5 1000 16 15 3 1000 97 -3 true s\t r\\t"
    );
    assert_eq!(r("{{printf \"%T %T %T\" 1 1.0 'x'}}"), "int float64 int");
    assert_eq!(
        r("{{range 3}}{{.}}{{end}} {{range $i := 2}}{{$i}}{{end}}"),
        "012 01"
    );
    assert_eq!(r("{{printf `a\nb` }}"), "a\nb");
    assert!(err("{{nil}}").ends_with("at <nil>: nil is not a command"));
    assert!(err("{{\"a\" \"b\"}}").ends_with("can't give argument to non-function \"a\""));
}

#[test]
fn numbers_print_like_go() {
    let data =
        json!({"neg": -1.5, "big": 1e21, "tiny": 1e-7, "int": -42, "u": 18446744073709551615u64});
    let t = |s: &str| render(s, &data).unwrap();
    assert_eq!(
        t("{{.neg}} {{.big}} {{.tiny}} {{.int}} {{.u}}"),
        "-1.5 1e+21 1e-07 -42 18446744073709551615"
    );
    assert_eq!(
        t("{{json .neg}} {{json .big}} {{json .tiny}}"),
        "-1.5 1e+21 1e-7"
    );
    assert_eq!(t("{{printf \"%.2f %05.1f\" .neg .neg}}"), "-1.50 -01.5");
    assert_eq!(t("{{if lt .neg 0.0}}negative{{end}}"), "negative");
}

#[test]
fn multi_line_actions_and_comments() {
    assert_eq!(
        r("{{printf \"%s %s\"\n  .Name\n  .State.Status}}"),
        "/web running"
    );
    assert_eq!(r("{{.Name\n | upper}}"), "/WEB");
    assert_eq!(r("{{/* a\nmulti-line comment */}}x"), "x");
    assert_eq!(r("a\n\n{{- /* trimmed */ -}}\n\nb"), "ab");
    assert_eq!(r("{{- .Name}} {{- .Id | len -}} !"), "/web64!");
}

#[test]
fn execution_errors_have_go_positions() {
    assert_eq!(
        err("x\n {{.Config.Entrypoint.Foo}}"),
        "template parsing error: template: :2:10: executing \"\" at <.Config.Entrypoint.Foo>: \
         nil pointer evaluating interface {}.Foo"
    );
    assert_eq!(
        err("{{upper .State.Pid}}"),
        "template parsing error: template: :1:14: executing \"\" at <.State.Pid>: \
         wrong type for value; expected string; got int"
    );
    assert_eq!(
        err("{{index .RepoTags 5}}"),
        "template parsing error: template: :1:2: executing \"\" at <index .RepoTags 5>: \
         error calling index: index out of range: 5"
    );
    assert_eq!(
        err("{{len}}"),
        "template parsing error: template: :1:2: executing \"\" at <len>: \
         wrong number of args for len: want 1 got 0"
    );
    assert_eq!(
        err("{{define \"t\"}}{{.Foo}}{{end}}{{template \"t\" .Name}}"),
        "template parsing error: template: :1:16: executing \"t\" at <.Foo>: \
         can't evaluate field Foo in type string"
    );
    assert_eq!(
        err("{{template \"nope\"}}"),
        "template parsing error: template: :1:11: executing \"\" at <{{template \"nope\"}}>: \
         template \"nope\" not defined"
    );
    assert_eq!(
        err("{{define \"t\"}}{{template \"t\"}}{{end}}{{template \"t\"}}"),
        "template parsing error: template: :1:25: executing \"t\" at <{{template \"t\"}}>: \
         exceeded maximum template depth (100)"
    );
}

#[test]
fn missing_keys_and_nulls() {
    assert_eq!(r("{{.Missing.Deeper}}"), "<no value>");
    assert_eq!(r("{{.Config.Labels.nope}}"), "<no value>");
    assert_eq!(
        r("{{len .Config.Entrypoint}} {{index .Config.Entrypoint \"k\"}}|"),
        "0 |"
    );
    assert!(err("{{len .Missing}}").contains("error calling len"));
    assert!(err("{{upper .Missing}}").ends_with("invalid value; expected string"));
    assert!(err("{{.Config.Entrypoint.Foo}}").ends_with("nil pointer evaluating interface {}.Foo"));
}

#[test]
fn header_functions_keep_titles_and_check_arity() {
    let mut headers = Map::new();
    headers.insert("Names".into(), json!("NAMES"));
    headers.insert("Size".into(), json!("SIZE"));
    assert_eq!(
        render_header(
            "{{join .Names \", \"}}\t{{truncate .Size 2}}\t{{split .Names \",\"}}",
            &headers
        )
        .unwrap(),
        "NAMES\tSIZE\tNAMES"
    );
    assert!(render_header("{{upper .Names .Size}}", &headers)
        .unwrap_err()
        .to_string()
        .contains("wrong number of args for upper: want 1 got 2"));
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let deep = format!("{}.{}", "(".repeat(500), ")".repeat(500));
    assert!(err(&format!("{{{{{deep}}}}}")).ends_with("max expression depth exceeded"));
    let ifs = format!("{}x{}", "{{if 1}}".repeat(500), "{{end}}".repeat(500));
    assert!(err(&ifs).ends_with("max expression depth exceeded"));
    // Just under the limit still parses and runs (on a test thread's small stack).
    let ifs = format!("{}x{}", "{{with .}}".repeat(199), "{{end}}".repeat(199));
    assert_eq!(r(&ifs), "x");
    let deep = format!("{}.Name{}", "(".repeat(199), ")".repeat(199));
    assert_eq!(r(&format!("{{{{{deep}}}}}")), "/web");
}

/// `docker ps`-style listing: one parse, 1,000 rows (release builds take well under 10 ms).
#[test]
fn renders_a_thousand_rows() {
    let tmpl = Template::parse(
        "{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.CreatedAt}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}\
         {{range $k, $v := .Labels}} {{$k}}={{$v}}{{end}}{{if .Size}} {{.Size}}{{end}}",
    )
    .unwrap();
    let mut out = String::new();
    for i in 0..1000 {
        let row = json!({
            "ID": format!("{i:012x}"), "Image": "alpine:latest", "Command": "\"sh\"",
            "CreatedAt": "2024-01-01 10:00:00 +0000 UTC", "Status": "Up 2 hours",
            "Ports": "", "Names": format!("c{i}"), "Labels": {"b": "2", "a": "1"}, "Size": i,
        });
        out.push_str(&tmpl.execute(&row).unwrap());
        out.push('\n');
    }
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1000);
    assert_eq!(
        lines[0],
        "000000000000\talpine:latest\t\"sh\"\t2024-01-01 10:00:00 +0000 UTC\tUp 2 hours\t\tc0 a=1 b=2"
    );
    assert_eq!(
        lines[999],
        "0000000003e7\talpine:latest\t\"sh\"\t2024-01-01 10:00:00 +0000 UTC\tUp 2 hours\t\tc999 a=1 b=2 999"
    );
}

#[test]
fn lexing_and_parsing_errors_match_go() {
    for (src, msg) in [
        ("{{}}", ":1: missing value for command"),
        ("{{if}}{{end}}", ":1: missing value for if"),
        ("{{$x}}", ":1: undefined variable \"$x\""),
        (
            "{{range $a, $b, $c := .}}{{end}}",
            ":1: too many declarations in range",
        ),
        (
            "{{range .}}{{else}}{{else}}{{end}}",
            ":1: expected end; found {{else}}",
        ),
        (
            "{{.X | 3}}",
            ":1: non executable command in pipeline stage 2",
        ),
        ("{{\"x\".Y}}", ":1: unexpected . after term \"\\\"x\\\"\""),
        ("{{.X =}}", ":1: unexpected \"=\" in operand"),
        ("{{template .}}", ":1: unexpected <.> in template clause"),
        ("{{1.2.3}}", ":1: unexpected \".3\" in operand"),
        ("{{0x1.8}}", ":1: illegal number syntax: \"0x1.8\""),
        (
            "{{99999999999999999999}}",
            ":1: integer overflow: \"99999999999999999999\"",
        ),
        ("{{1+2i}}", ":1: complex numbers are not supported: 1+2i"),
        ("{{\"\\q\"}}", ":1: invalid syntax"),
        ("{{'ab'}}", ":1: malformed character constant: 'ab'"),
        ("{{.X\n\n", ":3: unclosed action started at :1"),
        ("{{.X-}}", ":1: bad character U+002D '-'"),
        ("{{3x}}", ":1: bad number syntax: \"3x\""),
        ("{{\"a}}", ":1: unterminated quoted string"),
        ("{{(.X}}", ":1: unclosed left paren"),
        ("{{.X)}}", ":1: unexpected right paren"),
        ("{{/* x", ":1: unclosed comment"),
        (
            "{{/* x */ .X}}",
            ":1: comment ends before closing delimiter",
        ),
        ("{{ \u{1}}}", ":1: unrecognized character in action: U+0001"),
        (
            "{{define \"a\"}}x{{end}}{{define \"a\"}}y{{end}}",
            ":1: template: multiple definition of template \"a\"",
        ),
    ] {
        assert_eq!(
            err(src),
            format!("template parsing error: template: {msg}"),
            "{src:?}"
        );
    }
}

#[test]
fn string_and_char_literals_unquote_like_go() {
    assert_eq!(
        r(r#"{{"a\tb\x41\101\u00e9\U0001F600\\\""}}"#),
        "a\tbAAé😀\\\""
    );
    assert_eq!(r(r"{{'\n'}} {{'\''}} {{'\x41'}} {{'é'}}"), "10 39 65 233");
    assert_eq!(r("{{`a\r\nb`}}"), "a\nb");
}
