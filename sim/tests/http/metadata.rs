//! The metadata service (`/Metadata/*`), labels and `/data/$metadata`, as
//! `d365fo-client` reads them.

use reqwest::StatusCode;
use serde_json::Value as Json;

use crate::support::Sim;

async fn get(sim: &Sim, path: &str) -> (StatusCode, Json) {
    let res = sim.http.get(sim.url(path)).send().await.unwrap();
    let status = res.status();
    let text = res.text().await.unwrap();
    let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}: {text}"));
    (status, json)
}

fn values(body: &Json) -> &Vec<Json> {
    body["value"].as_array().unwrap()
}

#[tokio::test]
async fn service_document_lists_the_four_collections() {
    let sim = Sim::default().await;
    let (status, body) = get(&sim, "/Metadata").await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = values(&body)
        .iter()
        .filter_map(|v| v["name"].as_str())
        .collect();
    assert_eq!(
        names,
        [
            "Labels",
            "DataEntities",
            "PublicEntities",
            "PublicEnumerations"
        ]
    );
    assert_eq!(
        body["@odata.context"],
        format!("{}/Metadata/$metadata", sim.base)
    );
}

#[tokio::test]
async fn data_entities_cover_every_served_set_and_filter_like_the_client() {
    let sim = Sim::default().await;
    let (_, doc) = get(&sim, "/data").await;
    let (status, all) = get(&sim, "/Metadata/DataEntities").await;
    assert_eq!(status, StatusCode::OK);
    for set in values(&doc) {
        let name = set["name"].as_str().unwrap();
        let entity = values(&all)
            .iter()
            .find(|e| e["PublicCollectionName"] == name);
        let entity = entity.unwrap_or_else(|| panic!("{name} missing from DataEntities"));
        for field in [
            "Name",
            "PublicEntityName",
            "LabelId",
            "EntityCategory",
            "DataServiceEnabled",
            "DataManagementEnabled",
            "IsReadOnly",
        ] {
            assert!(!entity[field].is_null(), "{name}.{field}");
        }
    }
    // What d365fo-client's search_data_entities sends.
    let q = "/Metadata/DataEntities?$filter=contains(tolower(Name),%20'customer')%20and%20EntityCategory%20eq%20Microsoft.Dynamics.Metadata.EntityCategory'Master'%20and%20DataServiceEnabled%20eq%20true&$count=true";
    let (status, hits) = get(&sim, q).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        values(&hits)
            .iter()
            .any(|e| e["Name"] == "CustCustomerV3Entity"),
        "{hits}"
    );
    assert!(
        values(&hits)
            .iter()
            .all(|e| e["EntityCategory"] == "Master")
    );
    assert_eq!(hits["@odata.count"], values(&hits).len());
    let (_, page) = get(
        &sim,
        "/Metadata/DataEntities?$select=Name,IsReadOnly&$top=2&$skip=1",
    )
    .await;
    assert_eq!(values(&page).len(), 2);
    assert_eq!(values(&page)[0].as_object().unwrap().len(), 2);
    let (status, one) = get(&sim, "/Metadata/DataEntities('CustCustomerV3Entity')").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["PublicEntityName"], "CustomerV3");
}

#[tokio::test]
async fn public_entity_has_properties_navigation_and_actions() {
    let sim = Sim::default().await;
    let (status, e) = get(&sim, "/Metadata/PublicEntities('CustomerV3')").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(e["EntitySetName"], "CustomersV3");
    assert!(
        e["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("#PublicEntities/$entity")
    );
    let props = e["Properties"].as_array().unwrap();
    let area = props.iter().find(|p| p["Name"] == "dataAreaId").unwrap();
    assert_eq!(area["IsKey"], true);
    assert_eq!(area["LabelId"], "@SYS13342");
    assert_eq!(area["TypeName"], "Edm.String");
    let credit = props.iter().find(|p| p["Name"] == "CreditLimit").unwrap();
    assert_eq!(credit["DataType"], "Real");
    let action = &e["Actions"][0];
    assert_eq!(action["Name"], "PrintAccountStatement");
    assert_eq!(action["BindingKind"], "BoundToEntityInstance");
    assert_eq!(action["Parameters"][1]["Name"], "FromDate");

    let (_, host) = get(&sim, "/Metadata/PublicEntities('DataManagementEntity')").await;
    let names: Vec<&str> = host["Actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["Name"].as_str())
        .collect();
    assert!(names.contains(&"GetApplicationVersion"), "{names:?}");

    // Every served entity's navigation properties name catalogued entities.
    let (_, all) = get(&sim, "/Metadata/PublicEntities").await;
    for entity in values(&all) {
        for nav in entity["NavigationProperties"].as_array().unwrap() {
            let related = nav["RelatedEntity"].as_str().unwrap();
            assert!(
                values(&all).iter().any(|x| x["Name"] == related),
                "{related}"
            );
            assert!(["Single", "Multiple"].contains(&nav["Cardinality"].as_str().unwrap()));
        }
    }
    let (_, picked) = get(&sim, "/Metadata/PublicEntities?$filter=contains(tolower(Name),'vendor')&$select=Name,EntitySetName,LabelId,IsReadOnly,ConfigurationEnabled").await;
    assert!(
        values(&picked)
            .iter()
            .any(|v| v["EntitySetName"] == "VendorsV2")
    );
    assert!(
        values(&picked)
            .iter()
            .all(|v| v.get("Properties").is_none())
    );

    let (status, missing) = get(&sim, "/Metadata/PublicEntities('NoSuchEntity')").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(missing["error"]["message"].is_string());
}

#[tokio::test]
async fn enumerations_and_their_member_labels() {
    let sim = Sim::default().await;
    let (status, e) = get(&sim, "/Metadata/PublicEnumerations('NoYes')").await;
    assert_eq!(status, StatusCode::OK);
    let members = e["Members"].as_array().unwrap();
    assert_eq!(members[1]["Name"], "Yes");
    assert_eq!(members[1]["Value"], 1);
    let label = members[1]["LabelId"].as_str().unwrap().to_owned();
    let (_, de) = get(
        &sim,
        &format!("/Metadata/Labels(Id='{label}',Language='de')"),
    )
    .await;
    assert_eq!(de["Value"], "Ja");
    let (_, list) = get(&sim, "/Metadata/PublicEnumerations?$filter=contains(tolower(Name),'blocked')&$select=Name,LabelId").await;
    assert_eq!(values(&list).len(), 1);
    let (status, _) = get(&sim, "/Metadata/PublicEnumerations('Nope')").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn labels_in_two_languages_and_the_errors() {
    let sim = Sim::default().await;
    let (status, en) = get(&sim, "/Metadata/Labels(Id='@SYS13342',Language='en-us')").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (
            en["Id"].as_str(),
            en["Language"].as_str(),
            en["Value"].as_str()
        ),
        (Some("@SYS13342"), Some("en-US"), Some("Company"))
    );
    let (_, de) = get(&sim, "/Metadata/Labels(Id='@SYS13342',Language='de')").await;
    assert_eq!(de["Value"], "Unternehmen");
    // Every label id the catalogue hands out resolves.
    let (_, all) = get(&sim, "/Metadata/PublicEntities").await;
    for entity in values(&all).iter().take(3) {
        let id = entity["LabelId"].as_str().unwrap();
        let (status, _) = get(
            &sim,
            &format!("/Metadata/Labels(Id='{id}',Language='en-US')"),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{id}");
    }
    // D365FO's label endpoint answers an unknown label 404 with an empty body.
    let missing = sim
        .http
        .get(sim.url("/Metadata/Labels(Id='@SYS999999999',Language='en-us')"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(missing.text().await.unwrap(), "");
    let (status, bare) = get(&sim, "/Metadata/Labels").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        bare["error"]["message"],
        "The label id and language must be provided as part of the key segment."
    );
    let (status, _) = get(&sim, "/Metadata/Nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, bad) = get(&sim, "/Metadata/DataEntities?$filter=Nope%20eq%201").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        bad["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Could not find a property named 'Nope'")
    );
}

#[tokio::test]
async fn edmx_is_valid_xml_and_agrees_with_the_service_document() {
    let sim = Sim::default().await;
    let res = sim
        .http
        .get(sim.url("/data/$metadata"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/xml")
    );
    let xml = res.text().await.unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let (_, service) = get(&sim, "/data").await;
    let served: Vec<&str> = values(&service)
        .iter()
        .filter_map(|v| v["name"].as_str())
        .collect();
    let sets: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("EntitySet"))
        .filter_map(|n| n.attribute("Name"))
        .collect();
    assert_eq!(sets, served);
    let types: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("EntityType"))
        .filter_map(|n| n.attribute("Name"))
        .collect();
    for t in doc
        .descendants()
        .filter(|n| n.has_tag_name("EntitySet"))
        .filter_map(|n| n.attribute("EntityType"))
    {
        assert!(types.contains(&t.rsplit('.').next().unwrap()), "{t}");
    }
    for b in doc
        .descendants()
        .filter(|n| n.has_tag_name("NavigationPropertyBinding"))
    {
        assert!(served.contains(&b.attribute("Target").unwrap()));
    }
    let actions: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("Action"))
        .filter_map(|n| n.attribute("Name"))
        .collect();
    for a in [
        "GetApplicationVersion",
        "GetPlatformBuildVersion",
        "GetInstalledModules",
        "RunCopilotReport",
        "GetCompanyName",
    ] {
        assert!(actions.contains(&a), "{a}");
    }
    assert!(
        doc.descendants().any(
            |n| n.has_tag_name("ActionImport") && n.attribute("Name") == Some("GetCompanyName")
        )
    );
    assert!(doc.descendants().any(|n| n.has_tag_name("EnumType") && n.attribute("Name") == Some("CustVendorBlocked")));
}
