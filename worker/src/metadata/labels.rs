//! `d365fo_get_label`, `d365fo_get_labels` and `d365fo_get_installed_modules`.

use common::catalogue::{
    args::NoArgs,
    metadata::{
        InstalledModule, InstalledModulesResult, LabelArgs, LabelResult, LabelText, LabelsArgs,
        LabelsResult,
    },
};

use super::Metadata;
use crate::{cache::version::version_hash, error::WorkerError};

/// One label's text; not-found when D365FO has none in that language.
pub async fn get_label(meta: &Metadata<'_>, args: LabelArgs) -> Result<LabelResult, WorkerError> {
    match meta.label(&args.label_id, &args.language).await? {
        Some(text) => Ok(LabelResult {
            label_id: args.label_id,
            language: args.language,
            text,
        }),
        None => Err(WorkerError::Missing(format!(
            "label {} has no text in language {}; check the id (as an entity schema lists it) \
             and try language \"en-us\"",
            crate::d365::odata::quote(&args.label_id),
            crate::d365::odata::quote(&args.language)
        ))),
    }
}

/// Many labels' texts, in the order asked, each found, missing, or not
/// read (with the error). Only when every lookup failed does the call fail,
/// with the first error: there is nothing else to return.
pub async fn get_labels(
    meta: &Metadata<'_>,
    args: LabelsArgs,
) -> Result<LabelsResult, WorkerError> {
    let texts = meta
        .labels(args.label_ids.iter().cloned(), &args.language)
        .await?;
    if texts.all_failed() {
        return Err(texts.into_first_error().unwrap_or_else(|| {
            WorkerError::Internal("label lookups failed without an error".into())
        }));
    }
    let (mut found, mut missing, mut failed) = (0, 0, 0);
    let labels: Vec<LabelText> = args
        .label_ids
        .iter()
        .map(|id| {
            let (text, error) = match (texts.text(id), texts.error(id)) {
                (Some(text), _) => {
                    found += 1;
                    (Some(text), None)
                }
                (None, Some(error)) => {
                    failed += 1;
                    (None, Some(error.to_owned()))
                }
                (None, None) => {
                    missing += 1;
                    (None, None)
                }
            };
            LabelText {
                label_id: id.clone(),
                found: text.is_some(),
                text,
                error,
            }
        })
        .collect();
    Ok(LabelsResult {
        language: args.language,
        found,
        missing,
        failed,
        labels,
    })
}

/// The installed modules, read now, and the version hash they make.
pub async fn installed_modules(
    meta: &Metadata<'_>,
    _: NoArgs,
) -> Result<InstalledModulesResult, WorkerError> {
    let modules = meta.installed_modules().await?;
    Ok(InstalledModulesResult {
        version_hash: version_hash(&modules),
        count: modules.len(),
        modules: modules
            .into_iter()
            .map(|m| InstalledModule {
                name: m.name,
                version: m.version,
                module: m.module,
                publisher: m.publisher,
                display_name: m.display_name,
            })
            .collect(),
    })
}
