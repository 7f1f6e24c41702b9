//! The book's reference pages are generated from the code they describe and must match it: a
//! renamed parameter, a new config key or command fails here until the pages are regenerated
//! (`trackflow docs docs/src/reference`, or this test with UPDATE_SNAPSHOTS=1).

use crate::common::root;

#[test]
fn reference_pages_match_the_code() {
    let dir = root().join("docs/src/reference");
    for (name, text) in trackflow::cli::docs::pages() {
        let path = dir.join(name);
        if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
            std::fs::write(&path, &text).unwrap();
        }
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            have == text,
            "{} is stale: run `trackflow docs docs/src/reference` (or this test with UPDATE_SNAPSHOTS=1)",
            path.display()
        );
    }
    // Every page is in the book's table of contents.
    let summary = std::fs::read_to_string(root().join("docs/src/SUMMARY.md")).unwrap();
    for (name, _) in trackflow::cli::docs::pages() {
        assert!(summary.contains(&format!("reference/{name}")), "docs/src/SUMMARY.md does not list reference/{name}");
    }
}

/// Every link between the book's pages and from the README into the book names a file that
/// exists (mdBook would build a page with a dead link without complaint).
#[test]
fn book_and_readme_links_resolve() {
    let mut pages = vec![root().join("README.md")];
    let mut stack = vec![root().join("docs/src")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "md") {
                pages.push(p);
            }
        }
    }
    let mut dead = Vec::new();
    for page in &pages {
        let text = std::fs::read_to_string(page).unwrap();
        for (i, _) in text.match_indices("](") {
            let rest = &text[i + 2..];
            let Some(end) = rest.find(')') else { continue };
            let target = rest[..end].split('#').next().unwrap_or_default();
            if target.is_empty() || target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            if !page.parent().unwrap().join(target).exists() {
                dead.push(format!("{}: {target}", page.strip_prefix(root()).unwrap().display()));
            }
        }
    }
    assert!(dead.is_empty(), "dead links:\n{}", dead.join("\n"));
}
