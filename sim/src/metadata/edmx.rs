//! `/data/$metadata`: the catalogue as an OData v4 CSDL (EDMX) document.
//!
//! D365FO publishes one schema, `Microsoft.Dynamics.DataEntities`, holding
//! every entity type, enum type and action, and one entity container,
//! `Resources`. Entity types of action hosts are declared (their actions
//! bind to them) without an entity set, because `/data` serves no rows for
//! them: every entity set in this document is one `/data` serves.

use std::fmt::Write as _;

use super::operations::{ACTIONS, Binding, NS};
use super::{Catalogue, EntityMeta, short_name};
use crate::data::FieldType;

/// Renders the whole document.
pub fn render(cat: &Catalogue) -> String {
    let mut out = String::with_capacity(16 * 1024);
    out.push_str(r#"<?xml version="1.0" encoding="utf-8"?>"#);
    out.push_str(
        r#"<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">"#,
    );
    out.push_str("<edmx:DataServices>");
    let _ = write!(
        out,
        r#"<Schema Namespace="{NS}" xmlns="http://docs.oasis-open.org/odata/ns/edm">"#
    );
    for e in &cat.entities {
        entity_type(&mut out, cat, e);
    }
    for e in &cat.enums {
        let _ = write!(out, r#"<EnumType Name="{}">"#, attr(&e.name));
        for (name, value, _) in &e.members {
            let _ = write!(out, r#"<Member Name="{}" Value="{value}"/>"#, attr(name));
        }
        out.push_str("</EnumType>");
    }
    for a in ACTIONS {
        let bound = a.binding != Binding::Unbound;
        let _ = write!(out, r#"<Action Name="{}""#, attr(a.name));
        out.push_str(if bound { r#" IsBound="true">"# } else { ">" });
        if let Some(set) = a.binding.set() {
            let entity = cat.entities.iter().find(|e| e.set == set);
            let ty =
                entity.map_or_else(|| "Edm.Untyped".to_owned(), |e| format!("{NS}.{}", e.name));
            let name = entity.map_or("bindingParameter", |e| e.name.as_str());
            let ty = if matches!(a.binding, Binding::Set(_)) {
                format!("Collection({ty})")
            } else {
                ty
            };
            let _ = write!(
                out,
                r#"<Parameter Name="{}" Type="{}"/>"#,
                attr(name),
                attr(&ty)
            );
        }
        for p in a.params {
            let _ = write!(
                out,
                r#"<Parameter Name="{}" Type="{}"{}/>"#,
                attr(p.name),
                p.edm,
                if p.nullable {
                    ""
                } else {
                    r#" Nullable="false""#
                }
            );
        }
        if let Some((ty, many)) = a.returns {
            let ty = if many {
                format!("Collection({ty})")
            } else {
                ty.to_owned()
            };
            let _ = write!(out, r#"<ReturnType Type="{ty}"/>"#);
        }
        out.push_str("</Action>");
    }
    out.push_str(r#"<EntityContainer Name="Resources">"#);
    for e in cat.entities.iter().filter(|e| e.served) {
        let _ = write!(
            out,
            r#"<EntitySet Name="{}" EntityType="{NS}.{}">"#,
            attr(e.set),
            attr(&e.name)
        );
        for n in e.navs.iter().filter(|n| cat.by_set(n.target).is_some()) {
            let _ = write!(
                out,
                r#"<NavigationPropertyBinding Path="{}" Target="{}"/>"#,
                attr(n.name),
                attr(n.target)
            );
        }
        out.push_str("</EntitySet>");
    }
    for a in ACTIONS.iter().filter(|a| a.binding == Binding::Unbound) {
        let _ = write!(
            out,
            r#"<ActionImport Name="{0}" Action="{NS}.{0}"/>"#,
            attr(a.name)
        );
    }
    out.push_str("</EntityContainer></Schema></edmx:DataServices></edmx:Edmx>");
    out
}

fn entity_type(out: &mut String, cat: &Catalogue, e: &EntityMeta) {
    let _ = write!(out, r#"<EntityType Name="{}"><Key>"#, attr(&e.name));
    for p in e.props.iter().filter(|p| p.is_key) {
        let _ = write!(out, r#"<PropertyRef Name="{}"/>"#, attr(p.name));
    }
    out.push_str("</Key>");
    for p in &e.props {
        let ty = match p.ty {
            FieldType::Enum(en) => format!("{NS}.{}", short_name(en.name)),
            other => other.edm_name().to_owned(),
        };
        let _ = write!(
            out,
            r#"<Property Name="{}" Type="{}""#,
            attr(p.name),
            attr(&ty)
        );
        if p.is_key || p.mandatory {
            out.push_str(r#" Nullable="false""#);
        }
        if ty == "Edm.Decimal" {
            // D365FO's Real fields: 32 digits, 6 after the point.
            out.push_str(r#" Precision="32" Scale="6""#);
        }
        out.push_str("/>");
    }
    for n in e.navs {
        let Some(target) = cat.by_set(n.target) else {
            continue;
        };
        let ty = format!("{NS}.{}", target.name);
        let ty = if n.collection {
            format!("Collection({ty})")
        } else {
            ty
        };
        let _ = write!(
            out,
            r#"<NavigationProperty Name="{}" Type="{}""#,
            attr(n.name),
            attr(&ty)
        );
        if let Some(partner) = n.partner {
            let _ = write!(out, r#" Partner="{}""#, attr(partner));
        }
        out.push('>');
        // CSDL puts referential constraints on the dependent (single-valued) side.
        if !n.collection {
            for (this, other) in n.constraints {
                let _ = write!(
                    out,
                    r#"<ReferentialConstraint Property="{}" ReferencedProperty="{}"/>"#,
                    attr(this),
                    attr(other)
                );
            }
        }
        out.push_str("</NavigationProperty>");
    }
    out.push_str("</EntityType>");
}

/// Escapes an XML attribute value.
fn attr(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Dataset;

    #[test]
    fn parses_and_matches_the_catalogue() {
        let data = Dataset::seeded(1);
        let cat = Catalogue::build(&data);
        let doc = roxmltree::Document::parse(std::str::from_utf8(&cat.edmx).unwrap()).unwrap();
        let sets: Vec<&str> = doc
            .descendants()
            .filter(|n| n.has_tag_name("EntitySet"))
            .filter_map(|n| n.attribute("Name"))
            .collect();
        assert_eq!(sets, data.names());
        let customer = doc
            .descendants()
            .find(|n| n.has_tag_name("EntityType") && n.attribute("Name") == Some("CustomerV3"))
            .unwrap();
        let keys: Vec<&str> = customer
            .descendants()
            .filter(|n| n.has_tag_name("PropertyRef"))
            .filter_map(|n| n.attribute("Name"))
            .collect();
        assert_eq!(keys, ["dataAreaId", "CustomerAccount"]);
        assert!(
            doc.descendants()
                .any(|n| n.has_tag_name("EnumType") && n.attribute("Name") == Some("NoYes"))
        );
        assert_eq!(attr(r#"a<"&'>"#), "a&lt;&quot;&amp;&apos;&gt;");
    }
}
