//! The hand-written label ids and texts of [`labels`](super::labels):
//! `(name, id, en-US, de)` rows. Ids follow D365FO's styles (`@SYS…` for
//! kernel labels, `@Module:Name` for newer modules); texts are what a
//! D365FO user sees in each language.

/// `(name, id, en-US, de)` of entity sets.
pub(super) const ENTITIES: &[(&str, &str, &str, &str)] = &[
    (
        "LegalEntities",
        "@SYS130827",
        "Legal entities",
        "Juristische Personen",
    ),
    ("Currencies", "@SYS3391", "Currencies", "Währungen"),
    (
        "CustomerGroups",
        "@SYS11904",
        "Customer groups",
        "Debitorengruppen",
    ),
    (
        "CustomersV3",
        "@AccountsReceivable:CustomersV3",
        "Customers V3",
        "Debitoren V3",
    ),
    (
        "VendorsV2",
        "@AccountsPayable:VendorsV2",
        "Vendors V2",
        "Kreditoren V2",
    ),
    (
        "ReleasedProductsV2",
        "@SCM:ReleasedProductsV2",
        "Released products V2",
        "Freigegebene Produkte V2",
    ),
    (
        "SalesOrderHeadersV2",
        "@SCM:SalesOrderHeadersV2",
        "Sales order headers V2",
        "Verkaufsauftragsköpfe V2",
    ),
    (
        "SalesOrderLines",
        "@SCM:SalesOrderLines",
        "Sales order lines",
        "Verkaufsauftragspositionen",
    ),
    (
        "MainAccounts",
        "@GeneralLedger:MainAccounts",
        "Main accounts",
        "Sachkonten",
    ),
    (
        "DataManagementEntities",
        "@DMF:DataManagementEntities",
        "Data management entities",
        "Datenverwaltungsentitäten",
    ),
    (
        "DataManagementDefinitionGroups",
        "@DMF:DefinitionGroups",
        "Data project definitions",
        "Datenprojektdefinitionen",
    ),
    (
        "SystemNotifications",
        "@SYS4009301",
        "System notifications",
        "Systembenachrichtigungen",
    ),
    (
        "SrsFinanceCopilots",
        "@SYS4009422",
        "Finance report generation",
        "Finanzberichtserstellung",
    ),
];

/// `(name, id, en-US, de)` of fields, shared by every entity that has them.
pub(super) const FIELDS: &[(&str, &str, &str, &str)] = &[
    ("dataAreaId", "@SYS13342", "Company", "Unternehmen"),
    (
        "LegalEntityId",
        "@SYS130828",
        "Legal entity",
        "Juristische Person",
    ),
    ("Name", "@SYS7399", "Name", "Name"),
    ("Description", "@SYS6303", "Description", "Beschreibung"),
    (
        "CustomerAccount",
        "@SYS7149",
        "Customer account",
        "Debitorenkonto",
    ),
    (
        "OrganizationName",
        "@SYS27837",
        "Organization name",
        "Organisationsname",
    ),
    (
        "CustomerGroupId",
        "@SYS11779",
        "Customer group",
        "Debitorengruppe",
    ),
    ("CustomerType", "@SYS129105", "Type", "Typ"),
    ("CurrencyCode", "@SYS7572", "Currency", "Währung"),
    ("SalesCurrencyCode", "@SYS7572", "Currency", "Währung"),
    ("CreditLimit", "@SYS8085", "Credit limit", "Kreditlimit"),
    (
        "OnHoldStatus",
        "@SYS14578",
        "Invoicing and delivery on hold",
        "Rechnungsstellung und Lieferung gesperrt",
    ),
    (
        "PaymentTerms",
        "@SYS23724",
        "Terms of payment",
        "Zahlungsbedingungen",
    ),
    (
        "AddressCountryRegionId",
        "@SYS7437",
        "Country/region",
        "Land/Region",
    ),
    ("AddressCity", "@SYS22249", "City", "Ort"),
    ("AddressStreet", "@SYS1191", "Street", "Straße"),
    ("AddressZipCode", "@SYS12596", "ZIP/postal code", "PLZ"),
    ("LanguageId", "@SYS4926", "Language", "Sprache"),
    (
        "VendorAccountNumber",
        "@SYS14048",
        "Vendor account",
        "Kreditorenkonto",
    ),
    (
        "VendorGroupId",
        "@SYS12253",
        "Vendor group",
        "Kreditorengruppe",
    ),
    (
        "CreatedDateTime",
        "@SYS109207",
        "Created date and time",
        "Erstellungsdatum und -uhrzeit",
    ),
    ("ItemNumber", "@SYS12836", "Item number", "Artikelnummer"),
    (
        "SalesOrderNumber",
        "@SYS9694",
        "Sales order",
        "Verkaufsauftrag",
    ),
    ("MainAccountId", "@SYS24500", "Main account", "Sachkonto"),
    ("Symbol", "@SYS78553", "Symbol", "Symbol"),
];

/// `(enum, id, en-US, de)` of enumerations (short names).
pub(super) const ENUMS: &[(&str, &str, &str, &str)] = &[
    ("NoYes", "@SYS1872", "No/Yes", "Nein/Ja"),
    ("CustomerType", "@SYS129105", "Type", "Typ"),
    (
        "CustVendorBlocked",
        "@SYS14578",
        "Invoicing and delivery on hold",
        "Rechnungsstellung und Lieferung gesperrt",
    ),
];

/// `(enum.member, id, en-US, de)` of enum members.
pub(super) const MEMBERS: &[(&str, &str, &str, &str)] = &[
    ("NoYes.No", "@SYS2048", "No", "Nein"),
    ("NoYes.Yes", "@SYS1896", "Yes", "Ja"),
    ("CustomerType.Person", "@SYS112069", "Person", "Person"),
    (
        "CustomerType.Organization",
        "@SYS112070",
        "Organization",
        "Organisation",
    ),
    ("CustVendorBlocked.No", "@SYS2048", "No", "Nein"),
    (
        "CustVendorBlocked.Invoice",
        "@SYS14204",
        "Invoice",
        "Rechnung",
    ),
    ("CustVendorBlocked.All", "@SYS1386", "All", "Alle"),
    (
        "CustVendorBlocked.Payment",
        "@SYS3070",
        "Payment",
        "Zahlung",
    ),
    (
        "CustVendorBlocked.Requisition",
        "@SYS108860",
        "Requisition",
        "Bestellanforderung",
    ),
    ("CustVendorBlocked.Never", "@SYS11873", "Never", "Nie"),
];
