//! `runner kinds`: the registered dataset, split, model and index kinds and evaluation tasks.

pub(super) fn print_kinds() {
    crate::say!("dataset kinds:");
    for k in crate::data::KINDS {
        crate::say!("  {:<16} {}", k.kind, k.about);
    }
    crate::say!("split kinds:");
    for k in crate::data::split::KINDS {
        crate::say!("  {:<16} {}", k.kind, k.about);
    }
    crate::say!("model kinds:");
    for k in crate::models::KINDS {
        crate::say!("  {:<16} {}", k.kind, k.about);
    }
    crate::say!("index kinds:");
    for k in crate::index::KINDS {
        crate::say!("  {:<16} {}", k.kind, k.about);
    }
    crate::say!("evaluation tasks ([metrics] task):");
    for t in crate::eval::KINDS {
        crate::say!("  {:<20} {}", t.name(), t.about());
    }
}
