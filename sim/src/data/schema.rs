//! Entity set definitions: property names and types as D365FO publishes
//! them, so a query written against the simulator works against the real
//! service.

/// An OData enum type, e.g. `Microsoft.Dynamics.DataEntities.NoYes`.
#[derive(Debug, PartialEq, Eq)]
pub struct EnumType {
    /// Qualified name as used in enum literals.
    pub name: &'static str,
    /// Member names in value order.
    pub members: &'static [&'static str],
}

/// The EDM type of a property.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// `Edm.String`.
    String,
    /// `Edm.Int32`.
    Int32,
    /// `Edm.Int64`.
    Int64,
    /// `Edm.Decimal`.
    Decimal,
    /// `Edm.Boolean`.
    Boolean,
    /// `Edm.DateTimeOffset`.
    DateTime,
    /// An enum type.
    Enum(&'static EnumType),
}

impl FieldType {
    /// The EDM name used in OData messages, e.g. `Edm.String`.
    pub fn edm_name(self) -> &'static str {
        match self {
            Self::String => "Edm.String",
            Self::Int32 => "Edm.Int32",
            Self::Int64 => "Edm.Int64",
            Self::Decimal => "Edm.Decimal",
            Self::Boolean => "Edm.Boolean",
            Self::DateTime => "Edm.DateTimeOffset",
            Self::Enum(e) => e.name,
        }
    }
}

/// One property of an entity type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// Property name, e.g. `CustomerAccount`.
    pub name: &'static str,
    /// Its type.
    pub ty: FieldType,
}

const fn f(name: &'static str, ty: FieldType) -> Field {
    Field { name, ty }
}

/// `Microsoft.Dynamics.DataEntities.NoYes`.
pub static NO_YES: EnumType = EnumType {
    name: "Microsoft.Dynamics.DataEntities.NoYes",
    members: &["No", "Yes"],
};

/// `Microsoft.Dynamics.DataEntities.CustomerType`.
pub static CUSTOMER_TYPE: EnumType = EnumType {
    name: "Microsoft.Dynamics.DataEntities.CustomerType",
    members: &["Person", "Organization"],
};

/// `Microsoft.Dynamics.DataEntities.CustVendorBlocked` (on-hold status).
pub static CUST_VENDOR_BLOCKED: EnumType = EnumType {
    name: "Microsoft.Dynamics.DataEntities.CustVendorBlocked",
    members: &["No", "Invoice", "All", "Payment", "Requisition", "Never"],
};

use FieldType::{Boolean, DateTime, Decimal, Enum, Int32, String as Str};

/// The static description of one entity set.
#[derive(Debug)]
pub(crate) struct SetDef {
    pub name: &'static str,
    pub type_name: &'static str,
    pub keys: &'static [&'static str],
    pub fields: &'static [Field],
}

pub(crate) static LEGAL_ENTITIES: SetDef = SetDef {
    name: "LegalEntities",
    type_name: "Microsoft.Dynamics.DataEntities.LegalEntity",
    keys: &["LegalEntityId"],
    fields: &[
        f("LegalEntityId", Str),
        f("Name", Str),
        f("AddressCountryRegionId", Str),
        f("AddressCity", Str),
        f("LanguageId", Str),
        f("AccountingCurrency", Str),
        f("IsInternalOrganization", Boolean),
    ],
};

pub(crate) static CURRENCIES: SetDef = SetDef {
    name: "Currencies",
    type_name: "Microsoft.Dynamics.DataEntities.Currency",
    keys: &["CurrencyCode"],
    fields: &[
        f("CurrencyCode", Str),
        f("Name", Str),
        f("Symbol", Str),
        f("GeneralRoundingPrecision", Decimal),
        f("ReferenceCurrencyForTriangulation", Enum(&NO_YES)),
    ],
};

pub(crate) static CUSTOMER_GROUPS: SetDef = SetDef {
    name: "CustomerGroups",
    type_name: "Microsoft.Dynamics.DataEntities.CustomerGroup",
    keys: &["dataAreaId", "CustomerGroupId"],
    fields: &[
        f("dataAreaId", Str),
        f("CustomerGroupId", Str),
        f("Description", Str),
        f("PaymentTermId", Str),
        f("IsSalesTaxIncludedInPrice", Enum(&NO_YES)),
        f("ClearingPeriodPaymentTermName", Str),
    ],
};

pub(crate) static CUSTOMERS_V3: SetDef = SetDef {
    name: "CustomersV3",
    type_name: "Microsoft.Dynamics.DataEntities.CustomerV3",
    keys: &["dataAreaId", "CustomerAccount"],
    fields: &[
        f("dataAreaId", Str),
        f("CustomerAccount", Str),
        f("OrganizationName", Str),
        f("CustomerType", Enum(&CUSTOMER_TYPE)),
        f("CustomerGroupId", Str),
        f("SalesCurrencyCode", Str),
        f("CreditLimit", Decimal),
        f("CreditLimitIsMandatory", Enum(&NO_YES)),
        f("OnHoldStatus", Enum(&CUST_VENDOR_BLOCKED)),
        f("PaymentTerms", Str),
        f("AddressCountryRegionId", Str),
        f("AddressCity", Str),
        f("AddressStreet", Str),
        f("AddressZipCode", Str),
        f("PrimaryContactEmail", Str),
        f("PrimaryContactPhone", Str),
        f("LanguageId", Str),
        f("PartyNumber", Str),
        f("CustomerPaymentMethod", Str),
        f("DeliveryTerms", Str),
        f("IsOneTimeCustomer", Enum(&NO_YES)),
        f("ShipCarrierAccount", Str),
        f("EmployeeResponsibleNumber", Str),
        f("CreatedDateTime", DateTime),
    ],
};

pub(crate) static VENDORS_V2: SetDef = SetDef {
    name: "VendorsV2",
    type_name: "Microsoft.Dynamics.DataEntities.VendorV2",
    keys: &["dataAreaId", "VendorAccountNumber"],
    fields: &[
        f("dataAreaId", Str),
        f("VendorAccountNumber", Str),
        f("VendorOrganizationName", Str),
        f("VendorGroupId", Str),
        f("CurrencyCode", Str),
        f("OnHoldStatus", Enum(&CUST_VENDOR_BLOCKED)),
        f("AddressCountryRegionId", Str),
        f("AddressCity", Str),
        f("PrimaryEmailAddress", Str),
        f("PaymentTermsName", Str),
        f("VendorPartyNumber", Str),
        f("NumberOfEmployees", Int32),
    ],
};
