//! Consent to destroy: a destructive step runs only when both the spec's
//! `allow_destroy` and the CLI's `--allow-destroy` name its object.

use jts_core::{Refusal, StepInfo};

/// Refusals for every destructive step that lacks consent from both sides.
pub fn refuse_without_consent(steps: &[StepInfo], spec_allows: &[String], cli_allows: &[String]) -> Vec<Refusal> {
    steps
        .iter()
        .filter(|step| step.destructive)
        .filter(|step| !(spec_allows.contains(&step.object) && cli_allows.contains(&step.object)))
        .map(|step| Refusal {
            object: step.object.clone(),
            path: None,
            reason: format!("{} would destroy data", step.description),
            fix: format!(
                "if you mean it, add {:?} to allow_destroy in the spec and pass --allow-destroy {:?}",
                step.object, step.object
            ),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(object: &str, destructive: bool) -> StepInfo {
        StepInfo {
            kind: "Wipe",
            object: object.into(),
            description: format!("wipe {object}"),
            destructive,
            commands: vec![],
            preconditions: vec![],
            drift: None,
        }
    }

    #[test]
    fn needs_both_spec_and_cli() {
        let steps = [step("lv_kafka", true), step("lv_pg", false)];
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(refuse_without_consent(&steps, &[], &[]).len(), 1);
        assert_eq!(refuse_without_consent(&steps, &names(&["lv_kafka"]), &[]).len(), 1);
        assert_eq!(refuse_without_consent(&steps, &[], &names(&["lv_kafka"])).len(), 1);
        assert!(refuse_without_consent(&steps, &names(&["lv_kafka"]), &names(&["lv_kafka"])).is_empty());
    }
}
