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

pub(crate) const fn f(name: &'static str, ty: FieldType) -> Field {
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

/// `Microsoft.Dynamics.DataEntities.SalesStatus` (header and line status).
pub static SALES_STATUS: EnumType = EnumType {
    name: "Microsoft.Dynamics.DataEntities.SalesStatus",
    members: &["None", "Backorder", "Delivered", "Invoiced", "Canceled"],
};

/// `Microsoft.Dynamics.DataEntities.EcoResProductType`.
pub static PRODUCT_TYPE: EnumType = EnumType {
    name: "Microsoft.Dynamics.DataEntities.EcoResProductType",
    members: &["Item", "Service"],
};

/// `Microsoft.Dynamics.DataEntities.EcoResProductSubtype`.
pub static PRODUCT_SUBTYPE: EnumType = EnumType {
    name: "Microsoft.Dynamics.DataEntities.EcoResProductSubtype",
    members: &["Product", "ProductMaster"],
};

/// `Microsoft.Dynamics.DataEntities.DimensionLedgerAccountType` (main account type).
pub static MAIN_ACCOUNT_TYPE: EnumType = EnumType {
    name: "Microsoft.Dynamics.DataEntities.DimensionLedgerAccountType",
    members: &[
        "ProfitAndLoss",
        "Revenue",
        "Expense",
        "BalanceSheet",
        "Asset",
        "Liability",
        "Equity",
        "Total",
        "Reporting",
    ],
};

/// `Microsoft.Dynamics.DataEntities.DebCredProposal`.
pub static DEBIT_CREDIT: EnumType = EnumType {
    name: "Microsoft.Dynamics.DataEntities.DebCredProposal",
    members: &["None", "Debit", "Credit"],
};

/// A navigation property: rows of `target` related through `constraints`
/// (`(this set's property, target's property)` pairs), as the EDMX
/// `NavigationProperty` / `ReferentialConstraint` elements describe it.
#[derive(Debug, PartialEq, Eq)]
pub struct Navigation {
    /// Property name, e.g. `SalesOrderLines`.
    pub name: &'static str,
    /// Entity set name of the related rows.
    pub target: &'static str,
    /// `Collection(…)` (one-to-many) rather than a single entity.
    pub collection: bool,
    /// Joined properties: `(this set's, target's)`.
    pub constraints: &'static [(&'static str, &'static str)],
    /// The navigation property on the target that points back, if any.
    pub partner: Option<&'static str>,
}

/// A relation a write must satisfy: the values of `fields` must name an
/// existing row of `target`. D365FO enforces these in `validateWrite`.
#[derive(Debug, PartialEq, Eq)]
pub struct ForeignKey {
    /// `(this set's property, target's property)`; the last pair is the
    /// one the error message names.
    pub fields: &'static [(&'static str, &'static str)],
    /// Entity set the values must exist in.
    pub target: &'static str,
}

/// The static description of one entity set.
#[derive(Debug)]
pub(crate) struct SetDef {
    pub name: &'static str,
    pub type_name: &'static str,
    /// The AOT name of the data entity, e.g. `CustCustomerV3Entity`; D365FO
    /// names it in write errors.
    pub aot_name: &'static str,
    /// The table label used in messages, e.g. `Customers`.
    pub label: &'static str,
    pub keys: &'static [&'static str],
    pub fields: &'static [Field],
    /// Properties a create must give a non-empty value (keys other than
    /// `dataAreaId` are always mandatory).
    pub mandatory: &'static [&'static str],
    pub navigations: &'static [Navigation],
    pub foreign_keys: &'static [ForeignKey],
}
