//! LaTeX tables for papers: booktabs rules, a caption and a `\label`, the best value of each
//! metric column in bold and the second best underlined (lower is better for Gini and AvgPop,
//! higher for the rest; ranked in [`super::paper`]), and the significance marks explained in
//! a footnote.

use super::paper::{Paper, Rank, View};

/// Whether a lower value of metric column `col` is better.
pub fn lower_is_better(col: &str) -> bool {
    let m = col.split('@').next().unwrap_or(col);
    matches!(m, "Gini" | "AvgPop")
}

/// Whether "best" means anything for `col`: not for spreads (`... std`) and a
/// distribution's statistics (`sim p50`), whose better direction depends on the question.
pub fn ranked(col: &str) -> bool {
    !col.ends_with(" std") && (!col.starts_with("sim ") || col == "sim same-diff")
}

/// Escapes LaTeX's special characters in plain text.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\textbackslash{}"),
            '&' | '%' | '$' | '#' | '_' | '{' | '}' => {
                out.push('\\');
                out.push(c);
            }
            '~' => out.push_str("\\textasciitilde{}"),
            '^' => out.push_str("\\textasciicircum{}"),
            '±' => out.push_str("$\\pm$"),
            '†' => out.push_str("$^\\dagger$"),
            '‡' => out.push_str("$^\\ddagger$"),
            '↑' => out.push_str("$\\uparrow$"),
            '↓' => out.push_str("$\\downarrow$"),
            _ => out.push(c),
        }
    }
    out
}

/// One view as a booktabs `tabular`: metric headers with their direction arrow, the best
/// cell of each metric column bold and the second underlined.
fn tabular(v: &View) -> String {
    let align: String = v.numeric.iter().map(|&n| if n { 'r' } else { 'l' }).collect();
    let mut out = format!("\\begin{{tabular}}{{{align}}}\n\\toprule\n");
    let head: Vec<String> =
        v.header.iter().zip(&v.arrows).map(|(h, a)| if a.is_empty() { escape(h) } else { format!("{} {}", escape(h), escape(a)) }).collect();
    out += &(head.join(" & ") + " \\\\\n\\midrule\n");
    for (r, row) in v.rows.iter().enumerate() {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(c, cell)| match v.ranks[r][c] {
                Rank::Best => format!("\\textbf{{{}}}", escape(cell)),
                Rank::Second => format!("\\underline{{{}}}", escape(cell)),
                Rank::None => escape(cell),
            })
            .collect();
        out += &(cells.join(" & ") + " \\\\\n");
    }
    out += "\\bottomrule\n\\end{tabular}\n";
    out
}

/// The paper's metrics table as a LaTeX `table` with a caption, a `\label` and the marks'
/// legend as a footnote below it; the settings table, when there is one, as a second
/// `table` referring to the first.
pub fn to_latex(p: &Paper) -> String {
    let mut out = String::from("% Needs \\usepackage{booktabs}.\n\\begin{table}[t]\n\\centering\n");
    out += &format!("\\caption{{{}}}\n\\label{{{}}}\n", escape(&p.caption), p.label);
    out += &tabular(&p.views[0]);
    for l in &p.legend {
        out += &format!("\\par\\smallskip{{\\footnotesize {}}}\n", escape(l));
    }
    out += "\\end{table}\n";
    if let Some(settings) = p.views.iter().find(|v| v.name == "Settings") {
        out +=
            &format!("\n\\begin{{table}}[t]\n\\centering\n\\caption{{Settings of the rows of Table~\\ref{{{}}}.}}\n\\label{{{}-settings}}\n", p.label, p.label);
        out += &tabular(settings);
        out += "\\end{table}\n";
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paper() -> Paper {
        let rows: Vec<Vec<String>> = [["pop_ular", "0.1000", "0.9000"], ["i2v", "0.3000 ± 0.0100†", "0.5000‡"], ["n2v", "0.2000", "0.7000"]]
            .iter()
            .map(|r| r.map(String::from).to_vec())
            .collect();
        let metrics = View {
            name: "Metrics",
            header: ["model", "Recall@10", "Gini@10"].map(String::from).to_vec(),
            ranks: vec![vec![Rank::None; 3], vec![Rank::None, Rank::Best, Rank::Best], vec![Rank::None, Rank::Second, Rank::Second]],
            rows,
            numeric: vec![false, true, true],
            arrows: vec!["", "↑", "↓"],
        };
        let settings = View {
            name: "Settings",
            header: ["model", "model.window"].map(String::from).to_vec(),
            rows: vec![vec!["i2v".into(), "5".into()]],
            ranks: vec![vec![Rank::None; 2]],
            numeric: vec![false, true],
            arrows: vec!["", ""],
        };
        Paper {
            title: "ml_100k & friends".into(),
            caption: "ml_100k & friends. Mean ± standard deviation over seeds 1, 2".into(),
            label: "tab:ml-100k".into(),
            views: vec![metrics, settings],
            legend: vec!["† / ‡: significantly better / worse than pop_ular".into()],
            unknown_columns: Vec::new(),
        }
    }

    #[test]
    fn a_captioned_labelled_booktabs_table_with_ranks_arrows_and_a_legend() {
        let tex = to_latex(&paper());
        assert_eq!(tex.matches("\\begin{tabular}").count(), 2, "metrics and settings");
        assert_eq!(tex.matches("\\begin{table}").count(), tex.matches("\\end{table}").count());
        assert!(tex.contains("\\toprule") && tex.contains("\\midrule") && tex.contains("\\bottomrule"));
        assert!(tex.contains("\\begin{tabular}{lrr}"), "{tex}");
        assert!(tex.contains("\\caption{ml\\_100k \\& friends. Mean $\\pm$ standard deviation over seeds 1, 2}"), "{tex}");
        assert!(tex.contains("\\label{tab:ml-100k}") && tex.contains("Table~\\ref{tab:ml-100k}"), "{tex}");
        assert!(tex.contains("Recall@10 $\\uparrow$ & Gini@10 $\\downarrow$"), "{tex}");
        assert!(tex.contains("\\textbf{0.3000 $\\pm$ 0.0100$^\\dagger$}"), "{tex}");
        assert!(tex.contains("\\underline{0.2000}") && tex.contains("\\textbf{0.5000$^\\ddagger$}"), "{tex}");
        assert!(tex.contains("{\\footnotesize $^\\dagger$ / $^\\ddagger$: significantly better / worse than pop\\_ular}"), "{tex}");
        let body: Vec<&str> = tex.lines().filter(|l| l.ends_with("\\\\")).collect();
        assert_eq!(body.len(), 4 + 2, "header + 3 rows, header + 1 row");
        // Balanced braces.
        let open = tex.matches('{').count() - tex.matches("\\{").count();
        let close = tex.matches('}').count() - tex.matches("\\}").count();
        assert_eq!(open, close);
    }
}
